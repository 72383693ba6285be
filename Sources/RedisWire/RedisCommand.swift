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
  package mutating func append(_ prefix: [UInt8], _ suffix: UnsafeRawBufferPointer) {
    appendHeader(length: prefix.count + suffix.count)
    bytes.append(contentsOf: prefix)
    // As typed bytes: a raw buffer is appended byte by byte (~300
    // instructions for a 36-byte id), a typed one with one copy.
    bytes.append(contentsOf: suffix.assumingMemoryBound(to: UInt8.self))
    appendLineEnd()
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
