export * from "./simulator";
export * from "./faults";
export * from "./agent-side";
export { parseMultipart, boundaryOf, type FormPart } from "./multipart-parser";
