import Foundation
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("Compressed payloads (Celery 5.7 result_compression)")
struct PayloadDecompressionTests {
  private static let meta = Array(
    #"{"status": "SUCCESS", "result": [1, NaN], "traceback": null, "children": [], "task_id": "z"}"#.utf8)

  @Test("zlib framing (what kombu writes) and gzip framing both decode", arguments: [15, 31] as [Int32])
  func framings(windowBits: Int32) throws {
    let body = Deflate.compress(Self.meta, windowBits: windowBits)
    #expect(body.prefix(2) == (windowBits == 15 ? [0x78, 0xDA] : [0x1F, 0x8B]))
    let meta = try TaskMeta.decode(Deflate.celeryPayload(body))
    #expect(meta.state == .success && meta.taskID == "z")
    #expect(
      String(decoding: meta.json, as: UTF8.self)
        == #"{"status":"SUCCESS","result":[1,"NaN"],"traceback":null,"children":[],"task_id":"z"}"#)
  }

  @Test("msgpack inside a compressed payload is converted too")
  func msgpackInside() throws {
    let msgpack: [UInt8] = [0x81, 0xA6] + Array("status".utf8) + [0xA7] + Array("STARTED".utf8)
    let meta = try TaskMeta.decode(Deflate.celeryPayload(Deflate.compress(msgpack)))
    #expect(String(decoding: meta.json, as: UTF8.self) == #"{"status":"STARTED"}"#)
  }

  @Test("output larger than the first guess grows; exactly the limit is accepted")
  func growth() throws {
    let big = [UInt8](repeating: UInt8(ascii: "a"), count: 3 * 1024 * 1024 + 7)
    let body = Deflate.compress(big)
    #expect(body.count < 10_000)
    #expect(
      try PayloadDecompression.decompress(
        body[...], contentType: PayloadDecompression.zlibContentType, limit: big.count) == big)
  }

  @Test("a decompression bomb stops at the cap with a clear error")
  func bomb() throws {
    let body = Deflate.compress([UInt8](repeating: 0, count: 2 * 1024 * 1024))
    #expect(
      throws: DecodeError.invalidCompressedPayload(
        "it decompresses to more than 1 MB, the most taskwatch accepts")
    ) {
      try PayloadDecompression.decompress(
        body[...], contentType: PayloadDecompression.zlibContentType, limit: 1024 * 1024)
    }
    #expect(throws: DecodeError.self) {
      try PayloadDecompression.decompress(
        body[...], contentType: PayloadDecompression.zlibContentType, limit: 2 * 1024 * 1024 - 1)
    }
    #expect(PayloadDecompression.maximumDecompressedSize == 512 * 1024 * 1024)
  }

  @Test("corrupt, truncated and empty bodies are refused")
  func corrupt() throws {
    let body = Deflate.compress(Self.meta)
    var flipped = body
    flipped[4] ^= 0xFF
    for bad in [Array(body.dropLast(6)), [], [0x78], flipped, Array("plain text".utf8)] {
      #expect {
        try TaskMeta.decode(Deflate.celeryPayload(bad))
      } throws: { error in
        guard case DecodeError.invalidCompressedPayload(let detail) = error else { return false }
        return detail.contains("truncated") || detail.contains("corrupt")
      }
    }
    #expect(
      throws: DecodeError.invalidCompressedPayload("it is compressed twice")
    ) {
      try TaskMeta.decode(Deflate.celeryPayload(Deflate.compress(Deflate.celeryPayload(body))))
    }
  }

  /// Fuzzing/Reproducers/payload-bzip2-slow.bin: 249 bytes whose first
  /// bzip2 block inflates (run-length codes) to megabytes before its CRC
  /// fails. Refused as corrupt under the default cap, and at the size cap
  /// when that is smaller than what the block makes before its CRC.
  @Test("a corrupt bzip2 block that inflates to megabytes is refused (fuzzing reproducer)")
  func bzip2Reproducer() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let payload = [UInt8](
      try Data(contentsOf: root.appendingPathComponent("Fuzzing/Reproducers/payload-bzip2-slow.bin")))
    #expect(payload.count == 249)
    #expect(
      throws: DecodeError.invalidCompressedPayload("the bzip2 stream is corrupt (error -4)")
    ) { try TaskMeta.decode(payload) }
    guard case .compressed(let contentType, let offset) = PayloadFormat.sniff(payload) else {
      Issue.record("the reproducer is not a compressed payload")
      return
    }
    #expect(
      throws: DecodeError.invalidCompressedPayload("it decompresses to more than 1 MB, the most taskwatch accepts")
    ) { try PayloadDecompression.decompress(payload[offset...], contentType: contentType, limit: 1024 * 1024) }
  }

  @Test(
    "content types kombu does not write are named in the error",
    arguments: [("application/x-snappy", "application/x-snappy"), ("", "an unnamed method")])
  func unsupported(contentType: String, name: String) {
    #expect(throws: DecodeError.unsupportedCompression(name)) {
      try TaskMeta.decode(Deflate.celeryPayload([1, 2, 3], contentType: contentType))
    }
    #expect(DecodeError.unsupportedCompression(name).description.contains("zlib, gzip, bzip2, lzma, brotli, zstd"))
  }
}
