export * from "./outbox";
export * from "./reach";
export { storableProperties } from "./storable";
export { payloadOf } from "./store";
