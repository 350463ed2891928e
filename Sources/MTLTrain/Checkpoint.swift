import Foundation
import MTLData
import MTLGraph
import MTLSupport

public struct CheckpointError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// Everything needed to continue training or to predict: weights, optimiser state, progress, and
/// the fitted feature pipeline (vocabularies, statistics).
///
/// File layout (docs/checkpoint-format.md), little-endian:
///
///     8 bytes   magic "MTLCKPT\0"
///     u32       format version (1)
///     u32       header length H
///     H bytes   header, JSON (fingerprint, epoch, steps, seed, fitted pipeline, history, sizes)
///     f32 ...   every parameter tensor in graph order, then every optimiser state buffer
///     u32       CRC-32 of all the bytes before it
///
/// Written to a temporary file, fsynced and renamed, so the previous checkpoint survives any
/// crash during the write.
public struct Checkpoint: Equatable {
  public static let magic: [UInt8] = Array("MTLCKPT".utf8) + [0]
  public static let version: UInt32 = 1
  public static let fileName = "checkpoint.mtlc"

  public var fingerprint: UInt64
  public var epoch: Int
  public var steps: Int
  public var seed: UInt64
  /// Threads the batches were split across (results depend on it).
  public var threads: Int
  /// Batches of epoch `epoch + 1` already trained (0 at an epoch's end), with their loss sums.
  public var batchesDone: Int
  public var partialLoss: Double
  public var partialTaskLoss: [Double]
  public var fitted: FittedPipeline
  public var history: [EpochReport]
  public var params: [[Float]]
  public var state: [[Float]]

  struct Header: Codable {
    var fingerprint: String
    var epoch: Int
    var steps: Int
    var seed: UInt64
    var threads: Int
    var batchesDone: Int
    var partialLoss: Double
    var partialTaskLoss: [Double]
    var fitted: FittedPipeline
    var history: [EpochReport]
    var paramCounts: [Int]
    var stateCounts: [Int]
  }

  /// Identifies the model a checkpoint belongs to: the graph without its epoch count (so a run
  /// resumed with a different `--epochs` still matches).
  public static func fingerprint(_ g: Graph) -> UInt64 {
    var g = g
    g.training.epochs = 0
    return Checkpoint.hash(GraphFile.encode(g))
  }

  static func hash(_ bytes: [UInt8]) -> UInt64 { Checksum.fnv1a64(bytes) }

  public func encode() -> [UInt8] {
    let header = Header(
      fingerprint: String(fingerprint, radix: 16), epoch: epoch, steps: steps, seed: seed, threads: threads,
      batchesDone: batchesDone, partialLoss: partialLoss, partialTaskLoss: partialTaskLoss, fitted: fitted,
      history: history, paramCounts: params.map(\.count), stateCounts: state.map(\.count))
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let h = Array((try? enc.encode(header)) ?? Data())
    var out = Checkpoint.magic
    out.reserveCapacity(
      out.count + 8 + h.count + 4 * (params.reduce(0) { $0 + $1.count } + state.reduce(0) { $0 + $1.count }) + 4)
    appendU32(&out, Checkpoint.version)
    appendU32(&out, UInt32(h.count))
    out += h
    for a in params + state {
      a.withUnsafeBytes { raw in
        // Floats are stored little-endian; this machine is little-endian (checked at decode).
        out.append(contentsOf: raw)
      }
    }
    appendU32(&out, Checksum.crc32(out))
    return out
  }

  public static func decode(_ bytes: [UInt8], path: String) throws -> Checkpoint {
    func fail(_ why: String) -> CheckpointError { CheckpointError(path: path, reason: why) }
    guard bytes.count >= 24, Array(bytes[0..<8]) == magic else {
      throw fail("not an mtlc checkpoint (bad magic bytes)")
    }
    let body = bytes[0..<(bytes.count - 4)]
    let stored = readU32(bytes, bytes.count - 4)
    guard Checksum.crc32(Array(body)) == stored else {
      throw fail("checkpoint is corrupt or truncated (checksum mismatch); delete it to start afresh")
    }
    guard readU32(bytes, 8) == version else {
      throw fail("checkpoint format version \(readU32(bytes, 8)) is not supported (this mtlc reads \(version))")
    }
    let hlen = Int(readU32(bytes, 12))
    guard 16 + hlen <= body.count else { throw fail("checkpoint header is truncated") }
    let header: Header
    do {
      header = try JSONDecoder().decode(Header.self, from: Data(bytes[16..<(16 + hlen)]))
    } catch {
      throw fail("checkpoint header is unreadable: \(error)")
    }
    var offset = 16 + hlen
    func floats(_ n: Int) throws -> [Float] {
      guard n >= 0, offset + 4 * n <= body.count else { throw fail("checkpoint data is truncated") }
      let a = bytes[offset..<(offset + 4 * n)].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
      offset += 4 * n
      return a
    }
    let params = try header.paramCounts.map { try floats($0) }
    let state = try header.stateCounts.map { try floats($0) }
    guard offset == body.count else { throw fail("checkpoint has \(body.count - offset) unexpected trailing bytes") }
    guard let fp = UInt64(header.fingerprint, radix: 16) else { throw fail("checkpoint fingerprint is malformed") }
    return Checkpoint(
      fingerprint: fp, epoch: header.epoch, steps: header.steps, seed: header.seed, threads: header.threads,
      batchesDone: header.batchesDone, partialLoss: header.partialLoss, partialTaskLoss: header.partialTaskLoss,
      fitted: header.fitted,
      history: header.history, params: params, state: state)
  }

  /// Writes `DIR/checkpoint.mtlc` atomically, creating DIR if needed.
  public func write(toDirectory dir: String) throws {
    do {
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      try AtomicFile.write(encode(), to: Checkpoint.path(in: dir))
    } catch let e as FileError {
      throw CheckpointError(path: e.path, reason: "cannot write the checkpoint: \(e.reason)")
    } catch {
      throw CheckpointError(path: dir, reason: "cannot write the checkpoint: \(error)")
    }
  }

  public static func read(fromDirectory dir: String) throws -> Checkpoint {
    let p = path(in: dir)
    let bytes: [UInt8]
    do { bytes = try AtomicFile.read(p, limit: 8 << 30) } catch let e as FileError {
      throw CheckpointError(path: p, reason: "cannot read the checkpoint: \(e.reason)")
    }
    return try decode(bytes, path: p)
  }

  public static func path(in dir: String) -> String { (dir.hasSuffix("/") ? dir : dir + "/") + fileName }
}

private func appendU32(_ out: inout [UInt8], _ v: UInt32) {
  out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
}

private func readU32(_ b: [UInt8], _ i: Int) -> UInt32 {
  UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
