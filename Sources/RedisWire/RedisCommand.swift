/// A command formatted as RESP as its arguments are added, so a batch of a
/// thousand keys costs no intermediate strings or arrays. The argument count
/// is given up front, as RESP puts it first.
///
/// Not hiredis's `redisFormatCommandArgv`: it writes each `$<length>` header
/// with `sprintf`, and measured with callgrind at S4 (100,000 tasks, one
/// update each; Benchmarks/README.md) it cost +8.1 % of the whole run's
/// instructions (2,724 M → 2,944 M; 240 M inside `redisFormatCommandArgv`,
/// 224 M of them in `sprintf`), and +22 % for subscribing the 100,000
/// channels (333 M → 407 M), against a 2 % budget (issue 13).
package struct RedisCommand {
  private(set) var bytes: [UInt8] = []
  private let argumentCount: Int
  private var added = 0

  /// Whether every announced argument was added.
  package var isComplete: Bool { added == argumentCount }

  /// Starts a command of `argumentCount` arguments (the command name included).
  package init(argumentCount: Int, reservingCapacity capacity: Int = 64) {
    self.argumentCount = argumentCount
    bytes.reserveCapacity(capacity)
    bytes.append(UInt8(ascii: "*"))
    Self.appendDecimal(argumentCount, to: &bytes)
    appendLineEnd()
  }

  /// Adds one argument.
  package mutating func append(_ argument: some Collection<UInt8>) {
    appendHeader(length: argument.count)
    bytes.append(contentsOf: argument)
    appendLineEnd()
  }

  /// Adds one text argument.
  package mutating func append(_ argument: String) {
    append(argument.utf8)
  }

  /// Adds one argument made of `prefix` followed by the bytes of `suffix`,
  /// e.g. a key whose id is kept as bytes.
  ///
  /// The whole argument, `$<length>` header and line ends included, is
  /// assembled on the stack and appended with one copy: appended a byte or
  /// a part at a time it cost ~440 instructions per channel, 2,000,000 of
  /// them to subscribe and snapshot 1,000,000 ids (callgrind).
  package mutating func append(_ prefix: [UInt8], _ suffix: UnsafeRawBufferPointer) {
    precondition(added < argumentCount, "more arguments than announced")
    added += 1
    let length = prefix.count + suffix.count
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length + 24) { buffer in
      var end = 0
      func put(_ byte: UInt8) {
        buffer[end] = byte
        end += 1
      }
      put(UInt8(ascii: "$"))
      var digitCount = 1
      var scale = 10
      while scale <= length {
        digitCount += 1
        scale *= 10
      }
      var value = length
      for offset in stride(from: end + digitCount - 1, through: end, by: -1) {
        buffer[offset] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
        value /= 10
      }
      end += digitCount
      put(0x0D)
      put(0x0A)
      prefix.withUnsafeBufferPointer { prefix in
        if let base = prefix.baseAddress { (buffer.baseAddress! + end).update(from: base, count: prefix.count) }
      }
      end += prefix.count
      if let base = suffix.baseAddress {
        UnsafeMutableRawPointer(buffer.baseAddress! + end).copyMemory(from: base, byteCount: suffix.count)
      }
      end += suffix.count
      put(0x0D)
      put(0x0A)
      bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<end]))
    }
  }

  /// Adds one argument made of `prefix` followed by `suffix`, e.g. a key.
  package mutating func append(_ prefix: [UInt8], _ suffix: String) {
    let copied: Void? = suffix.utf8.withContiguousStorageIfAvailable { suffix in
      appendHeader(length: prefix.count + suffix.count)
      bytes.append(contentsOf: prefix)
      bytes.append(contentsOf: suffix)
    }
    if copied == nil {
      appendHeader(length: prefix.count + suffix.utf8.count)
      bytes.append(contentsOf: prefix)
      bytes.append(contentsOf: suffix.utf8)
    }
    appendLineEnd()
  }

  private mutating func appendHeader(length: Int) {
    precondition(added < argumentCount, "more arguments than announced")
    added += 1
    bytes.append(UInt8(ascii: "$"))
    Self.appendDecimal(length, to: &bytes)
    appendLineEnd()
  }

  private mutating func appendLineEnd() {
    bytes.append(0x0D)
    bytes.append(0x0A)
  }

  private static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
    var divisor = 1
    while divisor <= value / 10 { divisor *= 10 }
    var remaining = value
    repeat {
      bytes.append(UInt8(ascii: "0") + UInt8(remaining / divisor))
      remaining %= divisor
      divisor /= 10
    } while divisor > 0
  }
}
