// Validates Kubernetes objects (a multi-document YAML stream on stdin, as `helm template` prints it) against the JSON
// schemas of the API (the npm packages kubernetes-models, generated from Kubernetes' OpenAPI, and
// @kubernetes-models/keda for KEDA's custom resources), with ajv as those packages do in validate().
//   node validate-k8s.mjs TOOLS_DIR < rendered.yaml
// TOOLS_DIR holds node_modules with kubernetes-models, @kubernetes-models/keda and js-yaml (.ci/services.sh installs
// them). Prints "ok KIND/NAME" or "INVALID KIND/NAME: why" per object; exit 1 when any is invalid or unknown.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
const nm = join(process.argv[2], "node_modules");
const load = (p) => import(pathToFileURL(join(nm, p)).href);
const yaml = (await load("js-yaml/dist/js-yaml.mjs"));
const docs = yaml.loadAll(readFileSync(0, "utf8")).filter(Boolean);
const modules = {
  "apps/v1": "kubernetes-models/apps/v1/index.js", "v1": "kubernetes-models/v1/index.js", "policy/v1": "kubernetes-models/policy/v1/index.js",
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1/index.js",
};
let bad = 0;
for (const d of docs) {
  const Model = modules[d.apiVersion] && (await load(modules[d.apiVersion]))[d.kind];
  if (!Model) { bad++; console.log(`INVALID ${d.kind}/${d.metadata?.name}: no schema for ${d.apiVersion} ${d.kind}`); continue; }
  try { new Model(d).validate(); console.log(`ok ${d.kind}/${d.metadata.name}`); }
  catch (e) { bad++; console.log(`INVALID ${d.kind}/${d.metadata.name}: ${e.message}`); }
}
process.exit(bad ? 1 : 0);
