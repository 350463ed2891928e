// Strict decimal numbers from cell bytes.

/// The result of reading a number cell.
enum ParsedNumber: Equatable {
  case number(Double)
  /// Not a decimal number: text, "NaN", "inf", hex, an empty cell, thousands separators...
  case invalid
  /// A decimal number too large for a Double (e.g. `1e999`).
  case outOfRange
}

/// Accepts `[+-]? (digits [. digits*]? | . digits) ([eE] [+-]? digits)?` and nothing else: no
/// spaces (cells are already trimmed), no NaN or infinities, no hex, no separators.
func parseNumber(_ b: UnsafeBufferPointer<UInt8>) -> ParsedNumber {
  let n = b.count
  var i = 0
  var negative = false
  if i < n && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) {
    negative = b[i] == UInt8(ascii: "-")
    i += 1
  }
  // Fast path: an integer of at most 15 digits is exact in a Double.
  var intValue = 0
  var digits = 0
  while i < n, b[i] &- 48 < 10 {
    if digits < 15 { intValue = intValue * 10 + Int(b[i] &- 48) }
    digits += 1
    i += 1
  }
  if i == n && digits > 0 && digits <= 15 {
    let v = Double(intValue)
    return .number(negative ? -v : v)
  }
  var fraction = 0
  if i < n && b[i] == UInt8(ascii: ".") {
    i += 1
    while i < n, b[i] &- 48 < 10 {
      fraction += 1
      i += 1
    }
  }
  if digits + fraction == 0 { return .invalid }
  if i < n && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
    i += 1
    if i < n && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
    var exponentDigits = 0
    while i < n, b[i] &- 48 < 10 {
      exponentDigits += 1
      i += 1
    }
    if exponentDigits == 0 { return .invalid }
  }
  if i != n { return .invalid }
  // The grammar is a subset of what Double(String) reads, which rounds correctly.
  guard let v = Double(String(decoding: b, as: UTF8.self)) else { return .invalid }
  return v.isFinite ? .number(v) : .outOfRange
}

func parseNumber(_ text: String) -> ParsedNumber {
  var t = text
  return t.withUTF8 { parseNumber($0) }
}
