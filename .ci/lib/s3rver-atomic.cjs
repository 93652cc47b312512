// Preloaded into s3rver (node --require; .ci/services.sh and the tests' S3rverProcess): read-after-write consistency,
// as S3 and MinIO give it. s3rver 3.7's filesystem store (lib/stores/filesystem.js, putObject) truncates the object file
// in place and answers the PUT once the body has passed its MD5 transform, before the file is written out, and writes
// the MD5 next to it afterwards: a GET right after a PUT, or during an overwrite, could read a short file ("not a Parquet
// file") or content that does not match its ETag ("Expected hash not equal to calculated hash"), under load. Here a PUT
// writes a temporary file, waits until it is closed, renames it over the object and then writes the MD5 and metadata;
// PUT, GET (until its body stream ends) and DELETE of one key take turns. A PUT with If-Match (a conditional write, as
// S3 and MinIO do it) is checked against the object's current MD5 in the same turn: 412 PreconditionFailed when it
// changed, 404 NoSuchKey when it is gone.
const path = require("path");
const crypto = require("crypto");
const main = require.resolve("s3rver", { paths: [path.dirname(process.argv[1]), process.cwd()] });
const fs = require(require.resolve("fs-extra", { paths: [path.dirname(main)] }));
const Store = require(path.join(path.dirname(main), "stores", "filesystem.js"));
const S3Error = require(path.join(path.dirname(main), "models", "error.js"));

const turns = new Map(); // bucket/key -> the promise of the last holder's release
function take(bucket, key) {
  const id = `${bucket}/${key}`;
  const before = turns.get(id) || Promise.resolve();
  let release;
  const mine = new Promise(resolve => (release = resolve));
  const tail = before.then(() => mine);
  turns.set(id, tail);
  return before.then(() => {
    let done = false;
    const timer = setTimeout(() => give(), 60000); // a body nobody reads never holds a key for ever
    function give() {
      if (done) return;
      done = true;
      clearTimeout(timer);
      release();
      if (turns.get(id) === tail) turns.delete(id);
    }
    return give;
  });
}

let serial = 0;
Store.prototype.putObject = async function (object) {
  const give = await take(object.bucket, object.key);
  try {
    const objectPath = this.getResourcePath(object.bucket, object.key, "object");
    const ifMatch = object.content && object.content.headers && object.content.headers["if-match"];
    if (ifMatch !== undefined) {
      const current = await fs.readFile(`${objectPath}.md5`).then(b => b.toString(), () => null);
      if (current === null) throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: object.key });
      const wanted = String(ifMatch).replace(/"/g, "").trim();
      if (wanted !== "*" && wanted !== current)
        throw new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-Match" });
    }
    await fs.mkdirp(path.dirname(objectPath));
    const temporary = `${objectPath}.${process.pid}-${++serial}.writing`;
    const md5 = crypto.createHash("md5");
    let size = 0;
    await new Promise((resolve, reject) => {
      const out = fs.createWriteStream(temporary).on("error", reject).on("close", resolve);
      if (Buffer.isBuffer(object.content)) {
        md5.update(object.content);
        size = object.content.length;
        out.end(object.content);
      } else {
        object.content.on("error", e => {
          out.destroy(); // no half-written file is renamed, and the descriptor is closed
          fs.remove(temporary).catch(() => {});
          reject(e);
        }).on("data", chunk => {
          md5.update(chunk);
          size += chunk.length;
        });
        object.content.pipe(out);
      }
    });
    const digest = md5.digest("hex");
    await fs.rename(temporary, objectPath);
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  } finally {
    give();
  }
};

const getObject = Store.prototype.getObject;
Store.prototype.getObject = async function (bucket, key, options) {
  const give = await take(bucket, key);
  try {
    const object = await getObject.call(this, bucket, key, options);
    const body = object && object.content;
    if (body && typeof body.on === "function") body.on("close", give).on("end", give).on("error", give);
    else give();
    return object;
  } catch (e) {
    give();
    throw e;
  }
};

const deleteObject = Store.prototype.deleteObject;
Store.prototype.deleteObject = async function (bucket, key) {
  const give = await take(bucket, key);
  try {
    return await deleteObject.call(this, bucket, key);
  } finally {
    give();
  }
};
