/// The Redis Cluster hash slot of a key: CRC16-XMODEM of the key (or of its
/// hash tag) modulo 16,384, as the cluster specification defines it and
/// `CLUSTER KEYSLOT` computes it.
///
/// The hash tag is the text between the first `{` and the first `}` after
/// it, when that text is not empty: `{user1}.a` and `{user1}.b` share a slot.
package enum ClusterSlot {
  /// The number of slots a cluster divides its keys into.
  package static let count = 16_384

  /// The slot of `key`.
  package static func of(_ key: some Collection<UInt8>) -> Int {
    if let open = key.firstIndex(of: UInt8(ascii: "{")) {
      let afterOpen = key.index(after: open)
      if let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen {
        return Int(crc16(key[afterOpen..<close]) % UInt16(count))
      }
    }
    return Int(crc16(key) % UInt16(count))
  }

  /// The slot of the key made of `prefix` followed by `suffix` (a Celery key:
  /// `celery-task-meta-` and the task id).
  package static func of(_ prefix: [UInt8], _ suffix: String) -> Int {
    var suffix = suffix
    return suffix.withUTF8 { of(prefix, UnsafeRawBufferPointer($0)) }
  }

  /// The slot of the key made of `prefix` followed by the bytes `suffix`.
  ///
  /// Without a `{` in either part (every Celery key) the CRC runs over the
  /// two parts in place. Building the key first (an allocation), with the
  /// id's text as a `String`, took 6.7 % of taskwatch's samples on a cluster
  /// at S4 (perf), where every snapshot read and READY confirmation needs a
  /// slot; in place, 4.1 %, nearly all of it the CRC's own loop.
  package static func of(_ prefix: [UInt8], _ suffix: UnsafeRawBufferPointer) -> Int {
    let open = UInt8(ascii: "{")
    let fast: UInt16? = prefix.withUnsafeBytes { prefix in
      guard !prefix.contains(open), !suffix.contains(open) else { return nil }
      return crc16(suffix, continuing: crc16(prefix, continuing: 0))
    }
    if let fast { return Int(fast % UInt16(count)) }
    return of(prefix + Array(suffix))
  }

  /// CRC16-XMODEM (polynomial 0x1021, initial value 0), table-driven.
  static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
    var crc: UInt16 = 0
    for byte in bytes {
      crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
    }
    return crc
  }

  /// CRC16-XMODEM of `bytes` after the bytes whose CRC is `crc`.
  private static func crc16(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt16) -> UInt16 {
    table.withUnsafeBufferPointer { table in
      var crc = crc
      for byte in bytes {
        crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
      }
      return crc
    }
  }

  private static let table: [UInt16] = (0..<256).map { value in
    var crc = UInt16(value) << 8
    for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
    return crc
  }
}
