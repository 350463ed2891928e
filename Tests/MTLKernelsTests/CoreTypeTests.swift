// OpenBLAS's core: which `OPENBLAS_CORETYPE` mtlc asks for at start-up, and the CPU flags it reads.
import Foundation
import MTLKernels
import Testing

@Suite struct CoreTypeTests {
  let avx512: Set<String> = ["sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]

  @Test("a generic core on a CPU with AVX-512 or AVX2 asks for the matching kernels; anything else is left alone")
  func decisions() {
    func ask(env: [String: String] = [:], core: String = "Prescott", _ flags: Set<String>?) -> String? {
      BLAS.coreTypeToRequest(environment: env, coreName: core, cpuFlags: { flags })
    }
    #expect(ask(avx512) == "SKYLAKEX")
    #expect(ask(avx512.union(["avx512_bf16"])) == "COOPERLAKE")
    #expect(ask(["sse2", "avx", "avx2", "fma"]) == "HASWELL")
    #expect(ask(["sse2", "avx"]) == nil)
    #expect(ask(nil) == nil, "flags unreadable: leave the library alone")
    // A core the library recognised is kept, and the user's setting always wins (even empty).
    #expect(ask(core: "SkylakeX", avx512) == nil)
    #expect(ask(core: "Zen", ["avx2", "fma"]) == nil)
    #expect(ask(env: ["OPENBLAS_CORETYPE": "Haswell"], avx512) == nil)
    #expect(ask(env: ["OPENBLAS_CORETYPE": ""], avx512) == nil)
    // The flags are not read when there is nothing to decide (each re-executed start).
    var read = false
    _ = BLAS.coreTypeToRequest(
      environment: ["OPENBLAS_CORETYPE": "COOPERLAKE"], coreName: "Cooperlake",
      cpuFlags: {
        read = true
        return nil
      })
    #expect(!read)
  }

  @Test("the flags come from the first `flags` line of /proc/cpuinfo")
  func flagsFromCpuinfo() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cpuinfo-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try
      "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 avx2 fma avx512f\nbugs\t\t: none\nflags\t\t: other\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    #expect(BLAS.cpuFlags(cpuinfo: path) == ["fpu", "sse2", "avx2", "fma", "avx512f"])
    #expect(BLAS.cpuFlags(cpuinfo: path + ".missing") == nil)
    #expect(!BLAS.coreName.isEmpty)
  }
}
