// Preloaded into s3rver (node --require) by S3rverProcess: registers the key pairs in S3RVER_EXTRA_KEYS
// ("id:secret,id2:secret2") on s3rver's own account, so the server accepts the credentials a rendered deploy file names
// (compose's MinIO root user), as that server would. s3rver itself knows only S3RVER:S3RVER (lib/models/account.js).
const path = require("path");
const main = require.resolve("s3rver", { paths: [path.dirname(process.argv[1]), process.cwd()] });
const account = require(path.join(path.dirname(main), "models", "account.js"));
for (const pair of (process.env.S3RVER_EXTRA_KEYS || "").split(",").filter(Boolean)) {
  const i = pair.indexOf(":");
  account.DUMMY_ACCOUNT.createKeyPair(pair.slice(0, i), pair.slice(i + 1));
}
