#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file a command writes for the user to keep, as named on the command line: a path, or `-`
/// for standard output. The one overwrite rule of mtlc: an existing file is never replaced
/// unless `--force` was given, and this is checked before any work starts, so nothing is lost
/// half-way. Files are written atomically (`AtomicFile`).
public enum Output: Equatable, CustomStringConvertible {
  case standardOutput
  case file(String)

  public init(_ argument: String) { self = argument == "-" ? .standardOutput : .file(argument) }

  public var description: String {
    switch self {
    case .standardOutput: return "standard output"
    case .file(let p): return p
    }
  }

  /// The error for an output that exists when `force` is false.
  public func refuseOverwrite(force: Bool, hint: String = "pass --force to overwrite it") throws {
    if case .file(let p) = self, !force, AtomicFile.exists(p) {
      throw FileError(path: p, reason: "exists; \(hint)")
    }
  }

  public func write(_ bytes: [UInt8]) throws {
    switch self {
    case .file(let p): try AtomicFile.write(bytes, to: p)
    case .standardOutput:
      var done = 0
      while done < bytes.count {
        let n = bytes.withUnsafeBytes { writeFD(1, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw FileError(path: "-", reason: "cannot write to standard output: \(errnoText())") }
        done += n
      }
    }
  }

  public func write(_ text: String) throws { try write(Array(text.utf8)) }
}

private func writeFD(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
