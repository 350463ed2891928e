import MTLSupport
import Testing

/// The one FNV-1a and the one CRC-32 (MTLSupport), against published check values: both are
/// stored in files (cache, checkpoints) and in ONNX exports (hashed features).
struct ChecksumTests {
  @Test("CRC-32 gives the IEEE check value, at every alignment and split")
  func crc() {
    let check = Array("123456789".utf8)
    #expect(Checksum.crc32(check) == 0xCBF4_3926)
    #expect(Checksum.crc32([UInt8]()) == 0)
    // Slicing by 8 against a byte-at-a-time reference on lengths around the 8-byte step.
    var x: UInt32 = 12345
    let bytes = (0..<203).map { _ -> UInt8 in
      x = x &* 1_103_515_245 &+ 12345
      return UInt8(truncatingIfNeeded: x >> 16)
    }
    func slow(_ b: ArraySlice<UInt8>) -> UInt32 {
      var c: UInt32 = ~0
      for v in b {
        c ^= UInt32(v)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
      }
      return ~c
    }
    for lo in 0..<9 {
      for hi in stride(from: lo, through: bytes.count, by: 7) {
        #expect(Checksum.crc32(bytes[lo..<hi]) == slow(bytes[lo..<hi]))
      }
    }
    // `seed` continues a CRC.
    #expect(Checksum.crc32(check[4...], seed: Checksum.crc32(check[..<4])) == 0xCBF4_3926)
  }

  @Test("FNV-1a 64 gives the reference values, fed whole or incrementally")
  func fnv() {
    #expect(Checksum.fnv1a64([UInt8]()) == 0xcbf2_9ce4_8422_2325)
    #expect(Checksum.fnv1a64(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
    #expect(Checksum.fnv1a64(Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
    var h = FNV1a64()
    h.add(Array("foo".utf8))
    h.add(Array("bar".utf8))
    #expect(h.value == 0x8594_4171_f739_67e8)
  }
}
