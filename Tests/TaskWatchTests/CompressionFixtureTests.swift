import Testing

@testable import CeleryPayload
@testable import Decompression
@testable import RedisWire
@testable import TaskWatch

/// Every compression kombu offers, on payloads real Celery 5.7 workers
/// compressed (`compressed-*` and `compressed-large-*` in Tests/Fixtures/celery).
@Suite("kombu compressions (captured payloads)")
struct CompressionFixtureTests {
  static let methods = ["zlib", "gzip", "bzip2", "lzma", "brotli", "zstd"]

  /// The content type and body of a captured compressed payload.
  private func parts(of file: String) throws -> (contentType: String, body: ArraySlice<UInt8>) {
    let payload = try CeleryFixture.payload(of: file)
    guard case .compressed(let contentType, let offset) = PayloadFormat.sniff(payload) else {
      Issue.record("\(file) is not a compressed payload")
      return ("", [])
    }
    return (contentType, payload[offset...])
  }

  @Test("a 40,000-character result grows the output past its first guess, and is read whole", arguments: methods)
  func large(method: String) throws {
    let meta = try TaskMeta.decode(try CeleryFixture.payload(of: "compressed-large-\(method).stored.json.\(method)"))
    #expect(meta.state == .success)
    let tree = try JSONTree.parse(meta.json)
    guard case .string(let result) = tree["result"] else {
      Issue.record("no string result")
      return
    }
    #expect(result == String(repeating: "ab", count: 10_000) + String(repeating: "cd", count: 10_000))
  }

  @Test("the size cap: exactly the limit is accepted, one byte less is refused", arguments: methods)
  func cap(method: String) throws {
    let (contentType, body) = try parts(of: "compressed-large-\(method).stored.json.\(method)")
    let whole = try PayloadDecompression.decompress(body, contentType: contentType)
    #expect(whole.count > 40_000)
    #expect(try PayloadDecompression.decompress(body, contentType: contentType, limit: whole.count) == whole)
    guard case .invalidCompressedPayload(let reason) = DecompressedOutput.tooLarge(whole.count - 1) else { return }
    #expect(throws: DecodeError.invalidCompressedPayload(reason)) {
      try PayloadDecompression.decompress(body, contentType: contentType, limit: whole.count - 1)
    }
  }

  @Test("a truncated body (and a corrupted one, where the method has a checksum) is refused", arguments: methods)
  func damaged(method: String) throws {
    let (contentType, body) = try parts(of: "compressed-large-\(method).stored.json.\(method)")
    var flipped = Array(body)
    flipped[flipped.count / 2] ^= 0x55
    var damaged = [Array(body.prefix(body.count / 2)), Array(body.dropLast(1)), []]
    // brotli streams and kombu's zstd frames carry no checksum: Python may
    // decode a flipped byte in a literal run to other text, and so do the C
    // libraries. zlib, bzip2 and xz check a CRC.
    if !["brotli", "zstd"].contains(method) { damaged.append(flipped) }
    for bad in damaged {
      #expect(throws: DecodeError.self, "\(method): \(bad.count) bytes") {
        try PayloadDecompression.decompress(bad[...], contentType: contentType)
      }
    }
  }
}
