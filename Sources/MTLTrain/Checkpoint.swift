import Foundation
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport

public struct CheckpointError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// Everything needed to continue training or to predict: weights, optimiser state, progress, and
/// the fitted feature pipeline (vocabularies, statistics).
///
/// File layout (docs/graph-format.md, "Checkpoint"), little-endian:
///
///     8 bytes   magic "MTLCKPT\0"
///     u32       format version (2; version 1 files are still read)
///     u32       header length H
///     H bytes   header, JSON (the model's identity, fingerprint, epoch, steps, seed, fitted
///               pipeline, history, sizes)
///     f32 ...   every parameter tensor in graph order, then every optimiser state buffer
///     u32       CRC-32 of all the bytes before it
///
/// Written to a temporary file, fsynced and renamed, so the previous checkpoint survives any
/// crash during the write.
///
/// A checkpoint is input like any other file: every count in it is checked against the file's
/// size and the model before anything is allocated, and `Session.restore` refuses one whose model
/// identity (`ModelIdentity`) differs, naming the first differing field.
public struct Checkpoint: Equatable {
  public static let magic: [UInt8] = Array("MTLCKPT".utf8) + [0]
  public static let version: UInt32 = 2
  public static let fileName = "checkpoint.mtlc"
  /// The largest checkpoint read (a model's parameters and optimiser state).
  public static let maxBytes = 8 << 30

  /// The model's identity (`ModelIdentity.canonical` of the bound graph); nil in version 1 files,
  /// which carry only a fingerprint of the whole graph, paths included.
  public var model: Graph?
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
  /// The loss balancer's learned scalars and their optimiser state (`LossBalancer.state`).
  public var balancer: [Float] = []
  /// Early stopping: the best epoch so far, its parameters (after the optimiser state in the
  /// file; empty without early stopping), and whether training stopped.
  public var best: Session.BestEpoch? = nil
  public var bestParams: [[Float]] = []
  public var stoppedEarly = false

  struct Header: Codable {
    var model: Graph?
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
    /// In the header (a few floats): absent when the method has none.
    var balancer: [Float]?
    /// Early stopping's state; absent without it (files stay as they were).
    var best: Session.BestEpoch?
    var bestCounts: [Int]?
    var stoppedEarly: Bool?
  }

  /// Version 1's fingerprint: the whole graph but its epoch count, paths and spec locations
  /// included (so it matched only from the same path).
  static func legacyFingerprint(_ g: Graph) -> UInt64 {
    var g = g
    g.training.epochs = 0
    return Checksum.fnv1a64(GraphFile.encode(g))
  }

  public func encode() -> [UInt8] {
    let header = Header(
      model: model,
      fingerprint: String(fingerprint, radix: 16), epoch: epoch, steps: steps, seed: seed, threads: threads,
      batchesDone: batchesDone, partialLoss: partialLoss, partialTaskLoss: partialTaskLoss, fitted: fitted,
      history: history, paramCounts: params.map(\.count), stateCounts: state.map(\.count),
      balancer: balancer.isEmpty ? nil : balancer, best: best,
      bestCounts: bestParams.isEmpty ? nil : bestParams.map(\.count),
      stoppedEarly: stoppedEarly ? true : nil)
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    // Non-finite numbers (a loss sum that overflowed) as strings, so the header always encodes.
    enc.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    let h = Array((try? enc.encode(header)) ?? Data())
    var out = Checkpoint.magic
    out.reserveCapacity(
      out.count + 8 + h.count
        + 4 * ((params + state + bestParams).reduce(0) { $0 + $1.count }) + 4)
    appendU32(&out, Checkpoint.version)
    appendU32(&out, UInt32(h.count))
    out += h
    for a in params + state + bestParams {
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
    guard bytes.count >= 20, Array(bytes[0..<8]) == magic else {
      throw fail("not an mtlc checkpoint (bad magic bytes)")
    }
    let body = bytes.count - 4
    guard Checksum.crc32(bytes[0..<body]) == readU32(bytes, body) else {
      throw fail("checkpoint is corrupt or truncated (checksum mismatch); delete it to start afresh")
    }
    let fileVersion = readU32(bytes, 8)
    guard fileVersion == 1 || fileVersion == version else {
      throw fail("checkpoint format version \(fileVersion) is not supported (this mtlc reads 1 and \(version))")
    }
    let hlen = Int(readU32(bytes, 12))
    guard hlen <= body - 16 else { throw fail("checkpoint header is truncated") }
    let header: Header
    do {
      let dec = JSONDecoder()
      dec.nonConformingFloatDecodingStrategy = .convertFromString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
      header = try dec.decode(Header.self, from: Data(bytes[16..<(16 + hlen)]))
    } catch {
      throw fail("checkpoint header is unreadable: \(error)")
    }
    if let problem = header.check() { throw fail("checkpoint header is invalid: \(problem)") }
    // Every count against the bytes that are left, before anything is allocated.
    var offset = 16 + hlen
    let floatsLeft = (body - offset) / 4
    let bestCounts = header.bestCounts ?? []
    let total = (header.paramCounts + header.stateCounts + bestCounts).reduce(0) { $0 + $1 }
    guard header.paramCounts.count + header.stateCounts.count + bestCounts.count <= floatsLeft + 1,
      total <= floatsLeft
    else {
      throw fail("checkpoint data is truncated")
    }
    func floats(_ n: Int) -> [Float] {
      let a = bytes[offset..<(offset + 4 * n)].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
      offset += 4 * n
      return a
    }
    let params = header.paramCounts.map { floats($0) }
    let state = header.stateCounts.map { floats($0) }
    let bestParams = bestCounts.map { floats($0) }
    guard offset == body else { throw fail("checkpoint has \(body - offset) unexpected trailing bytes") }
    guard let fp = UInt64(header.fingerprint, radix: 16) else { throw fail("checkpoint fingerprint is malformed") }
    return Checkpoint(
      model: header.model, fingerprint: fp, epoch: header.epoch, steps: header.steps, seed: header.seed,
      threads: header.threads, batchesDone: header.batchesDone, partialLoss: header.partialLoss,
      partialTaskLoss: header.partialTaskLoss, fitted: header.fitted, history: header.history, params: params,
      state: state, balancer: header.balancer ?? [], best: header.best, bestParams: bestParams,
      stoppedEarly: header.stoppedEarly ?? false)
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
    do { bytes = try AtomicFile.read(p, limit: maxBytes) } catch let e as FileError {
      throw CheckpointError(path: p, reason: "cannot read the checkpoint: \(e.reason)")
    }
    return try decode(bytes, path: p)
  }

  public static func path(in dir: String) -> String { (dir.hasSuffix("/") ? dir : dir + "/") + fileName }
}

extension Checkpoint.Header {
  /// Counts and ranges a damaged or hostile header could break; nil when sound. The sizes are
  /// checked against the model in `Session.restore`.
  func check() -> String? {
    let maxCount = Checkpoint.maxBytes / 4
    if paramCounts.count > maxCount || stateCounts.count > maxCount { return "too many tensors" }
    if (bestCounts ?? []).count > maxCount { return "too many tensors" }
    for n in paramCounts + stateCounts + (bestCounts ?? []) where n < 0 || n > maxCount {
      return "a tensor has \(n) floats"
    }
    if let b = bestCounts, b != paramCounts { return "its best parameters are not shaped as its parameters" }
    if let b = best, !(0...epoch).contains(b.epoch) || !(0...GraphLimits.maxEpochs).contains(b.wait) {
      return "its best epoch \(b.epoch) (\(b.wait) epochs since) is not within its \(epoch) epochs"
    }
    // Steps fit any run (10^5 epochs of 10^9 batches); so the counters can never overflow.
    guard epoch >= 0, epoch <= GraphLimits.maxEpochs, (0...(1 << 50)).contains(steps), batchesDone >= 0,
      batchesDone <= steps
    else {
      return "epoch \(epoch), step \(steps) and batch \(batchesDone) are not a training position"
    }
    guard (1...Executor.maxThreads).contains(threads) else {
      return "thread count \(threads) is outside 1...\(Executor.maxThreads)"
    }
    if let m = model, let p = m.check() { return "its model: \(p)" }
    if let p = fitted.check() { return "its fitted pipeline: \(p)" }
    return nil
  }
}

private func appendU32(_ out: inout [UInt8], _ v: UInt32) {
  out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
}

private func readU32(_ b: [UInt8], _ i: Int) -> UInt32 {
  UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
