// Validate glTF/GLB files with the Khronos validator; print one JSON report per file (a JSON list).
// usage: node validate.js FILE.glb [FILE.glb ...]
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

async function validate(file) {
  const data = new Uint8Array(fs.readFileSync(file));
  const dir = path.dirname(file);
  return validator.validateBytes(data, {
    uri: path.basename(file),
    maxIssues: 0,
    // external resources (a .gltf's .bin or images) are read beside the file
    externalResourceFunction: (uri) => new Promise((resolve, reject) => {
      fs.readFile(path.join(dir, decodeURIComponent(uri)), (err, buf) => err ? reject(err) : resolve(new Uint8Array(buf)));
    }),
  });
}

(async () => {
  const files = process.argv.slice(2);
  if (!files.length) { console.error("usage: node validate.js FILE.glb ..."); process.exit(2); }
  const reports = [];
  for (const f of files) reports.push(await validate(f));
  process.stdout.write(JSON.stringify(reports) + "\n");
})().catch((err) => { console.error(String(err)); process.exit(1); });
