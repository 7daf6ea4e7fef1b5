export * from "./nexus-client";
export * from "./errors";
export * from "./envelope";
export * from "./signature";
export * from "./trace-id";
export * from "./retry-policy";
export * from "./media-types";
export { encodeMessageBody } from "./message-body";
export { prepareUpload, type UploadSource, type PreparedUpload } from "./multipart";
