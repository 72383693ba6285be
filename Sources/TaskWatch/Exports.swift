// The library's public surface spans its layers: a user who imports TaskWatch
// also sees the public types of the wire layer (BackendURL, TLSSettings,
// RedisError, …) and of Celery's payload rules (TaskState, TaskMeta, …).
// Their internals stay `package`.
@_exported import CeleryPayload
@_exported import RedisWire
