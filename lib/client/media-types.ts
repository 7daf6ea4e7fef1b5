import { extname } from "path";

// The types a messaging channel meets in practice; anything else goes up as application/octet-stream.
const BY_EXTENSION: Record<string, string> = {
  ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp",
  ".bmp": "image/bmp", ".svg": "image/svg+xml", ".heic": "image/heic", ".heif": "image/heif", ".tif": "image/tiff",
  ".tiff": "image/tiff", ".ico": "image/x-icon",
  ".pdf": "application/pdf", ".txt": "text/plain", ".csv": "text/csv", ".html": "text/html", ".htm": "text/html",
  ".json": "application/json", ".xml": "application/xml", ".rtf": "application/rtf", ".zip": "application/zip",
  ".gz": "application/gzip", ".doc": "application/msword",
  ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  ".xls": "application/vnd.ms-excel",
  ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ".ppt": "application/vnd.ms-powerpoint",
  ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  ".odt": "application/vnd.oasis.opendocument.text", ".vcf": "text/vcard", ".ics": "text/calendar",
  ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav", ".ogg": "audio/ogg",
  ".oga": "audio/ogg", ".amr": "audio/amr", ".opus": "audio/opus",
  ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm", ".3gp": "video/3gpp",
  ".avi": "video/x-msvideo", ".mpeg": "video/mpeg",
};

export const DEFAULT_MEDIA_TYPE = "application/octet-stream";

/** Content type for a file name by its extension, or application/octet-stream. */
export function mediaTypeFor(filename: string | undefined): string {
  if (!filename) return DEFAULT_MEDIA_TYPE;
  return BY_EXTENSION[extname(filename).toLowerCase()] ?? DEFAULT_MEDIA_TYPE;
}
