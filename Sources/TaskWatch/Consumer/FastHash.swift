/// A fast seeded 64-bit hash of bytes: the dedupe digest of payloads
/// (``ResultMessage/digest(of:)``) and the id index of `TaskTable`.
///
/// The multiply-fold mixing of wyhash (the 128-bit product of two words,
/// its halves xored), 16 bytes per round, the tail read as two overlapping
/// words, no byte loop. It replaced the standard library's `Hasher`
/// (SipHash-1-3): `combine(bytes:)` and `finalize()` cost 1,344 instructions
/// per message at S4 over a ~175-byte payload and a 36-byte id; the digest
/// now costs 164 and the id's hash a few inside the lookup (callgrind,
/// Benchmarks/README.md "Per message on the message path").
///
/// Not cryptographic. The seed is random per process, so which payloads
/// collide cannot be chosen in advance by whoever writes them; a collision
/// of two payloads of one task would drop the second as a repeat, with a
/// probability of about 2⁻⁶⁴ per message.
enum FastHash {
  /// The per-process seed.
  private static let seed = UInt64.random(in: .min ... .max)
  private static let secret0: UInt64 = 0xa076_1d64_78bd_642f
  private static let secret1: UInt64 = 0xe703_7ed1_a0b4_28db
  private static let secret2: UInt64 = 0x8ebc_6af0_9c88_c6e3

  /// The 64-bit hash of `bytes`.
  @inline(__always)
  static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let count = bytes.count
    var state = seed ^ mix(UInt64(truncatingIfNeeded: count) ^ secret0, secret1)
    guard let base = bytes.baseAddress, count > 0 else { return mix(state, secret2) }
    let first: UInt64
    let second: UInt64
    if count >= 16 {
      var offset = 0
      while offset + 16 < count {
        state = mix(word(base, offset) ^ secret1, word(base, offset + 8) ^ state)
        offset += 16
      }
      // The last 16 bytes, overlapping the last round when the count is no multiple of 16.
      first = word(base, count - 16)
      second = word(base, count - 8)
    } else if count >= 8 {
      first = word(base, 0)
      second = word(base, count - 8)
    } else if count >= 4 {
      first = UInt64(half(base, 0))
      second = UInt64(half(base, count - 4))
    } else {
      first =
        UInt64(base.load(as: UInt8.self)) << 16 | UInt64(base.load(fromByteOffset: count / 2, as: UInt8.self)) << 8
        | UInt64(base.load(fromByteOffset: count - 1, as: UInt8.self))
      second = 0
    }
    return mix(secret1 ^ UInt64(truncatingIfNeeded: count), mix(first ^ secret1, second ^ state))
  }

  /// The high and low halves of the full product, xored.
  @inline(__always)
  private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let product = a.multipliedFullWidth(by: b)
    return product.high ^ product.low
  }

  @inline(__always)
  private static func word(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }

  @inline(__always)
  private static func half(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 {
    UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }
}
