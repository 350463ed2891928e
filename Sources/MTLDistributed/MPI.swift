// The Communicator of a run started by `mpirun`: Open MPI's all-gather, through CMPIShim (the
// library is loaded at run time, so mtlc builds and runs single-process without it).

import CMPIShim
import Foundation
import MTLRuntime

/// mtlc was started as one of several ranks but cannot take part (no Open MPI to load).
public struct MPIError: Error, CustomStringConvertible {
  public var reason: String
  public var description: String { reason }
}

public final class MPICommunicator: Communicator {
  public let rank: Int
  public let size: Int
  /// Bytes this rank sent through the all-gathers so far (each all-gather moves size × that).
  public private(set) var bytesSent = 0

  init(rank: Int, size: Int) {
    self.rank = rank
    self.size = size
  }

  /// The ranks this process was started with: nil when it runs alone (no `mpirun`, or one rank).
  /// Under `mpirun` with several ranks, Open MPI is loaded and initialised; when it cannot be,
  /// an MPIError says so (rather than training N independent copies).
  public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
    throws -> MPICommunicator?
  {
    let declared = ["OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"].lazy.compactMap { environment[$0] }.first
    guard let declared, let n = Int(declared), n > 1 else { return nil }
    var why = [CChar](repeating: 0, count: 512)
    // MTLC_MPI_LIBRARY: another path to Open MPI's libmpi (default: libmpi.so.40 on the loader's path).
    let loaded =
      environment["MTLC_MPI_LIBRARY"].map { mtlc_mpi_load($0, &why, Int32(why.count)) }
      ?? mtlc_mpi_load(nil, &why, Int32(why.count))
    if loaded != 0 {
      throw MPIError(
        reason:
          "started by mpirun as one of \(n) ranks, but \(String(decoding: why.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)); install Open MPI (Debian: openmpi-bin, libopenmpi3) or run without mpirun"
      )
    }
    var rank: Int32 = 0
    var size: Int32 = 0
    guard mtlc_mpi_init(&rank, &size) == 0 else { throw MPIError(reason: "MPI_Init failed") }
    return MPICommunicator(rank: Int(rank), size: Int(size))
  }

  public func allgather(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: bytes.count * size)
    let status = bytes.withUnsafeBytes { i in
      out.withUnsafeMutableBytes { o in mtlc_mpi_allgather(i.baseAddress, Int64(bytes.count), o.baseAddress) }
    }
    // Open MPI's default error handler ends the job on a communication failure; a non-zero status
    // here is a message over MPI's 2 GiB count (a model whose gradients per rank pass 2 GiB): say so
    // and end every rank.
    if status != 0 {
      FileHandle.standardError.write(
        Data(
          "error: rank \(rank): an all-gather of \(bytes.count) bytes failed (MPI counts stop at 2 GiB per rank); use fewer threads per rank\n"
            .utf8))
      mtlc_mpi_abort(70)
    }
    bytesSent += bytes.count
    return out
  }

  /// Ends MPI (after the last collective).
  public func finish() { _ = mtlc_mpi_finalize() }

  /// Ends every rank of the job (after an error on this one).
  public func abort(_ code: Int32) { mtlc_mpi_abort(code) }
}
