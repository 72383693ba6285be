/// Splits text into ids as users paste them, a chunk at a time: words
/// separated by ASCII whitespace and commas, `[ ] ' "` trimmed from both
/// ends, a key prefix dropped from the front; with `comments`, a word
/// starting with `#` and the rest of its line are skipped. What is left
/// empty is no id.
///
/// A word or comment cut by the end of a chunk is carried into the next
/// one, so standard input is read in fixed-size chunks and never held whole.
struct WordScanner {
  /// Dropped from the front of a word that starts with it and is longer.
  let keyPrefix: [UInt8]
  /// Whether `#` at the start of a word starts a comment.
  let comments: Bool
  /// The start of a word that the last chunk ended inside.
  private var pending: [UInt8] = []
  /// Whether the last chunk ended inside a comment.
  private var inComment = false

  /// A scanner for text with or without comments.
  init(keyPrefix: [UInt8], comments: Bool) {
    self.keyPrefix = keyPrefix
    self.comments = comments
  }

  /// Calls `body` with each id that ends in `chunk`, until it returns
  /// `false`; a word the chunk ends inside is kept for the next call.
  mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ body: (UnsafeRawBufferPointer) -> Bool) {
    var start = 0
    if inComment {
      guard let lineEnd = chunk.firstIndex(of: 0x0A) else { return }
      inComment = false
      start = lineEnd
    }
    if !pending.isEmpty {
      guard let end = chunk[start...].firstIndex(where: Self.isSeparator) else {
        pending.append(contentsOf: chunk[start...])
        return
      }
      pending.append(contentsOf: chunk[start..<end])
      let going = pending.withUnsafeBufferPointer { emit($0[...], body) }
      pending.removeAll(keepingCapacity: true)
      guard going else { return }
      start = end
    }
    while start < chunk.count {
      guard !Self.isSeparator(chunk[start]) else {
        start += 1
        continue
      }
      var end = start + 1
      if comments && chunk[start] == UInt8(ascii: "#") {
        while end < chunk.count && chunk[end] != 0x0A { end += 1 }
        if end == chunk.count { inComment = true }
        start = end
        continue
      }
      while end < chunk.count && !Self.isSeparator(chunk[end]) { end += 1 }
      if end == chunk.count {
        pending.append(contentsOf: chunk[start..<end])
        return
      }
      guard emit(chunk[start..<end], body) else { return }
      start = end
    }
  }

  /// Ends the text: the word the last chunk ended inside is an id too.
  mutating func finish(_ body: (UnsafeRawBufferPointer) -> Bool) {
    inComment = false
    guard !pending.isEmpty else { return }
    _ = pending.withUnsafeBufferPointer { emit($0[...], body) }
    pending.removeAll()
  }

  /// Trims a whole word and hands what is left, if anything, to `body`.
  private func emit(_ word: Slice<UnsafeBufferPointer<UInt8>>, _ body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
    var first = word.startIndex
    var last = word.endIndex
    while first < last && Self.isWrapper(word[first]) { first += 1 }
    while last > first && Self.isWrapper(word[last - 1]) { last -= 1 }
    if !keyPrefix.isEmpty && last - first > keyPrefix.count
      && keyPrefix.elementsEqual(word[first..<(first + keyPrefix.count)])
    {
      first += keyPrefix.count
    }
    guard first < last else { return true }
    return body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: word.base[first..<last])))
  }

  private static func isSeparator(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
      || byte == UInt8(ascii: ",")
  }

  private static func isWrapper(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"")
  }
}
