// JSON-RPC 2.0 over a byte stream with LSP's framing: `Content-Length: N\r\n\r\n` then N bytes of
// JSON. Bounded: a header section over 8 KiB, a missing or bad length, or a body over the limit is
// a protocol error, answered and skipped (the body is read and dropped), never a crash.

import Foundation

#if canImport(Glibc)
  import Glibc
#else
  import Darwin
#endif

/// One framed message read from the stream, or what went wrong with it.
enum Incoming {
  case message([String: Any])
  /// The body was not JSON, or not an object: JSON-RPC's parse error / invalid request.
  case malformed(code: Int, message: String)
  /// The stream ended.
  case end
}

/// Reads and writes framed messages on two file descriptors.
final class JSONRPCChannel {
  let input: Int32
  let output: Int32
  let maxBody: Int
  var buffer: [UInt8] = []
  var eof = false
  /// What one read(2) fills, reused.
  var chunk = [UInt8](repeating: 0, count: 65536)

  init(input: Int32, output: Int32, maxBody: Int) {
    self.input = input
    self.output = output
    self.maxBody = maxBody
  }

  /// Reads more bytes into `buffer`; false at the end of the stream.
  func fill() -> Bool {
    if eof { return false }
    while true {
      let n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
      if n > 0 {
        buffer.append(contentsOf: chunk[0..<n])
        return true
      }
      if n < 0 && errno == EINTR { continue }
      eof = true
      return false
    }
  }

  func next() -> Incoming {
    // The header section, up to a blank line.
    var headerEnd: Int? = nil
    while headerEnd == nil {
      headerEnd = find([13, 10, 13, 10])
      if headerEnd == nil {
        if buffer.count > 8192 {
          buffer.removeAll()
          return .malformed(code: -32600, message: "header section over 8 KiB")
        }
        if !fill() { return .end }
      }
    }
    let header = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
    buffer.removeSubrange(0..<(headerEnd! + 4))
    var length: Int? = nil
    for line in header.split(separator: "\r\n") {
      let parts = line.split(separator: ":", maxSplits: 1)
      if parts.count == 2 && parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "content-length" {
        length = Int(parts[1].trimmingCharacters(in: .whitespaces))
      }
    }
    guard let length, length >= 0 else { return .malformed(code: -32600, message: "no valid Content-Length header") }
    // The body: read whole, or dropped when too large.
    var dropped = 0
    if length > maxBody {
      while dropped < length {
        if buffer.isEmpty && !fill() { return .end }
        let k = min(buffer.count, length - dropped)
        buffer.removeSubrange(0..<k)
        dropped += k
      }
      return .malformed(code: -32600, message: "message of \(length) bytes is over the limit of \(maxBody)")
    }
    while buffer.count < length { if !fill() { return .end } }
    let body = Data(buffer[0..<length])
    buffer.removeSubrange(0..<length)
    guard let json = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
      return .malformed(code: -32700, message: "parse error: the body is not JSON")
    }
    guard let object = json as? [String: Any] else {
      return .malformed(code: -32600, message: "invalid request: not a JSON object")
    }
    return .message(object)
  }

  func find(_ pattern: [UInt8]) -> Int? {
    guard buffer.count >= pattern.count else { return nil }
    for i in 0...(buffer.count - pattern.count) where buffer[i] == pattern[0] {
      if Array(buffer[i..<(i + pattern.count)]) == pattern { return i }
    }
    return nil
  }

  func send(_ object: [String: Any]) {
    var o = object
    o["jsonrpc"] = "2.0"
    guard let body = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
    else { return }
    var bytes = Array("Content-Length: \(body.count)\r\n\r\n".utf8)
    bytes += body
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { write(output, $0.baseAddress! + done, bytes.count - done) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { return }
      done += n
    }
  }
}
