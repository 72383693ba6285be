/// Why a compressed result body could not be inflated: the body is damaged,
/// truncated, or inflates past the size cap.
package enum DecompressionError: Error, Sendable, Equatable {
  /// The body cannot be inflated; the text says why, for the user.
  case invalidCompressedPayload(String)
}
