// Preloaded into s3rver (node --require; .ci/services.sh and the tests' S3rverProcess): read-after-write consistency,
// as S3 and MinIO give it. s3rver 3.7's filesystem store (lib/stores/filesystem.js, putObject) truncates the object file
// in place and answers the PUT once the body has passed its MD5 transform, before the file is written out, and writes
// the MD5 next to it afterwards: a GET right after a PUT, or during an overwrite, could read a short file ("not a Parquet
// file") or content that does not match its ETag ("Expected hash not equal to calculated hash"), under load. Here a PUT
// writes a temporary file, waits until it is closed and renames it over the object (the MD5 and metadata as below);
// PUT, GET (until its body stream ends) and DELETE of one key take turns. A PUT with If-Match (a conditional write, as
// S3 and MinIO do it) is checked against the object's current MD5 in the same turn: 412 PreconditionFailed when it
// changed, 404 NoSuchKey when it is gone; one with If-None-Match: * (create-only) answers 412 when the key exists.
// A kill -9 of s3rver (the fault lab stops it mid-run) must never leave a key that answers 500 for good: s3rver's
// getMetadata JSON.parses metadata.json and trusts the .md5 file, so a truncated metadata.json (a kill inside its
// writeFile) failed every later GET, and a kill between the object's rename and the MD5's write left a stale ETag. Here
// the MD5 and metadata are written to temporary files first; the old .md5 is removed before the object is renamed into
// place (a missing .md5 is recomputed from the object by s3rver, so whatever survives a kill agrees with itself); then
// metadata.json and the .md5 are renamed over theirs. Reading, an unparsable metadata.json counts as none and an .md5
// that is not 32 hex digits is recomputed.
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
const S3Object = require(path.join(path.dirname(main), "models", "object.js"));
const { pick, pickBy } = require(require.resolve("lodash", { paths: [path.dirname(main)] }));
// what s3rver's putMetadata keeps of a request's metadata
function metadataOf(metadata) {
  return { ...pick(metadata, S3Object.ALLOWED_METADATA), ...pickBy(metadata, (v, k) => k.startsWith("x-amz-meta-")) };
}

Store.prototype.getMetadata = async function (bucket, key) {
  const objectPath = this.getResourcePath(bucket, key, "object");
  const stat = await fs.stat(objectPath); // throws ENOENT for a missing key, as s3rver's does
  const stored = await fs.readFile(this.getResourcePath(bucket, key, "metadata.json")).then(
    b => { try { return JSON.parse(b.toString()); } catch { return undefined; } }, // cut short by a kill: none
    () => undefined);
  let md5 = await fs.readFile(`${objectPath}.md5`).then(b => b.toString(), () => null);
  if (md5 === null || !/^[0-9a-f]{32}$/.test(md5)) {
    // missing (a PUT was killed between removing it and renaming the new one) or cut short: computed from the object,
    // and not written back, since outside a key's turn a PUT may be renaming a newer object into place meanwhile
    md5 = await new Promise((resolve, reject) => {
      const hash = crypto.createHash("md5");
      fs.createReadStream(objectPath).on("error", reject).on("data", c => hash.update(c)).on("end", () => resolve(hash.digest("hex")));
    });
  }
  return { ...stored, etag: JSON.stringify(md5), "last-modified": stat.mtime.toUTCString(), "content-length": stat.size };
};

// multipart completion and copies still go through putMetadata: written whole or not at all
Store.prototype.putMetadata = async function (bucket, key, metadata, md5) {
  const n = ++serial;
  const metadataPath = this.getResourcePath(bucket, key, "metadata.json");
  const md5Path = this.getResourcePath(bucket, key, "object.md5");
  if (md5) {
    await fs.writeFile(`${md5Path}.${process.pid}-${n}.writing`, md5);
    await fs.rename(`${md5Path}.${process.pid}-${n}.writing`, md5Path);
  }
  await fs.writeFile(`${metadataPath}.${process.pid}-${n}.writing`, JSON.stringify(metadataOf(metadata), null, 2));
  await fs.rename(`${metadataPath}.${process.pid}-${n}.writing`, metadataPath);
};

Store.prototype.putObject = async function (object) {
  const give = await take(object.bucket, object.key);
  try {
    const objectPath = this.getResourcePath(object.bucket, object.key, "object");
    const ifMatch = object.content && object.content.headers && object.content.headers["if-match"];
    if (ifMatch !== undefined) {
      const current = await this.getMetadata(object.bucket, object.key).then(m => JSON.parse(m.etag), () => null);
      if (current === null) throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: object.key });
      const wanted = String(ifMatch).replace(/"/g, "").trim();
      if (wanted !== "*" && wanted !== current)
        throw new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-Match" });
    }
    const ifNoneMatch = object.content && object.content.headers && object.content.headers["if-none-match"];
    if (ifNoneMatch !== undefined) {
      // Create-only (If-None-Match: *, as S3 has it since 2024): 412 when the key exists, in the same turn as the write.
      const current = await this.getMetadata(object.bucket, object.key).then(m => JSON.parse(m.etag), () => null);
      const wanted = String(ifNoneMatch).replace(/"/g, "").trim();
      if (current !== null && (wanted === "*" || wanted === current))
        throw new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-None-Match" });
    }
    await fs.mkdirp(path.dirname(objectPath));
    const n = ++serial;
    const temporary = `${objectPath}.${process.pid}-${n}.writing`;
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
    const metadataPath = this.getResourcePath(object.bucket, object.key, "metadata.json");
    const md5Path = `${objectPath}.md5`;
    await fs.writeFile(`${metadataPath}.${process.pid}-${n}.writing`, JSON.stringify(metadataOf(object.metadata), null, 2));
    await fs.writeFile(`${md5Path}.${process.pid}-${n}.writing`, digest);
    await fs.remove(md5Path);
    await fs.rename(temporary, objectPath);
    await fs.rename(`${metadataPath}.${process.pid}-${n}.writing`, metadataPath);
    await fs.rename(`${md5Path}.${process.pid}-${n}.writing`, md5Path);
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
