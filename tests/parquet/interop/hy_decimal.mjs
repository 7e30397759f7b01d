// hy_decimal.mjs - hyparquet-writer writes DECIMAL columns on BYTE_ARRAY
// (minimal big-endian two's complement, 0 as an empty value), which DuckDB
// does not write: how Python tests get such a file from an independent
// writer. SPEC.json: {"codec", "rowGroupSize", "pageSize", "columns":
// [{"name", "precision", "scale", "values": [unscaled integer text or null]}]}.
// Usage: node hy_decimal.mjs SPEC.json OUT.parquet
import { readFileSync, writeFileSync } from "node:fs";
import { ByteWriter, parquetWrite } from "hyparquet-writer";

const [specFile, out] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, "utf8"));
const schema = [{ name: "root", num_children: spec.columns.length },
  ...spec.columns.map(({ name, precision, scale }) => ({
    name, type: "BYTE_ARRAY", repetition_type: "OPTIONAL", converted_type: "DECIMAL", precision, scale,
    logical_type: { type: "DECIMAL", precision, scale },
  }))];
const writer = new ByteWriter();
parquetWrite({
  writer, schema, codec: spec.codec ?? "SNAPPY", rowGroupSize: spec.rowGroupSize, pageSize: spec.pageSize,
  columnData: spec.columns.map(({ name, values }) => ({ name, data: values.map((v) => (v === null ? null : BigInt(v))) })),
});
writeFileSync(out, new Uint8Array(writer.getBuffer()));
