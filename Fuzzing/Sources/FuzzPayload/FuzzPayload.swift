import FuzzSupport
@_spi(Fuzzing) import TaskWatch

/// The largest inflated body accepted here: small, so a decompression bomb
/// shows up as a refusal rather than as the fuzzer running out of memory.
let decompressionLimit = 1 << 20

/// Payload decoding: what a Celery worker (or anyone who can write the key)
/// stored. Every serializer and compression goes through
/// `TaskMeta.decode`; the msgpack converter and each decompressor are also
/// called directly, so their output is checked even when the payload is then
/// refused. Oracles: what is accepted is one line of strict JSON (the meta,
/// and the meta without its result), an inflated body never exceeds the cap;
/// libFuzzer's `-timeout` bounds the time of one decode.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPayload(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let payload = FuzzInput(data, size).bytes
  if let meta = try? FuzzingEntryPoints.decodePayload(payload, decompressionLimit: decompressionLimit) {
    checkLine(meta.json, "meta.json")
    checkLine(meta.jsonWithoutResult(), "jsonWithoutResult()")
    guard !meta.state.name.isEmpty else { oracleFailure("accepted an empty status") }
  }
  if let json = try? FuzzingEntryPoints.messagePackToJSON(payload), !StrictJSON.isValid(json) {
    oracleFailure("msgpack converted to invalid JSON: \(String(decoding: json, as: UTF8.self))")
  }
  let marker = FuzzingEntryPoints.compressionMarker
  if payload.starts(with: marker) {
    let rest = payload.dropFirst(marker.count)
    let body = Array(rest.drop(while: { $0 != 0 }).dropFirst())
    for contentType in FuzzingEntryPoints.compressionContentTypes {
      let limit = decompressionLimit / 16
      if let inflated = try? FuzzingEntryPoints.decompress(body, contentType: contentType, limit: limit),
        inflated.count > limit
      {
        oracleFailure("\(contentType) inflated \(inflated.count) bytes past the cap of \(limit)")
      }
    }
  }
  return 0
}

private func checkLine(_ json: [UInt8], _ what: String) {
  guard StrictJSON.isObject(json), !json.contains(0x0A), !json.contains(0x0D) else {
    oracleFailure("\(what) is not one line of strict JSON: \(String(decoding: json, as: UTF8.self))")
  }
}
