// A hash set of byte strings, so that cells are looked up without becoming Strings.

/// A quick hash for the table below, eight bytes at a time (FNV-1a's byte-serial multiply chain
/// was most of the encoding time). Not stable across versions: never store it.
@inline(__always)
func tableHash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
  let n = b.count
  var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n)
  guard let p = b.baseAddress else { return h }
  let raw = UnsafeRawPointer(p)
  var i = 0
  while i + 8 <= n {
    h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
    h ^= h >> 32
    i += 8
  }
  var tail: UInt64 = 0
  var shift: UInt64 = 0
  while i < n {
    tail |= UInt64(p[i]) << shift
    shift += 8
    i += 1
  }
  h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
  h ^= h >> 29
  h = h &* 0xFF51_AFD7_ED55_8CCD
  return h ^ (h >> 32)
}

/// Byte strings numbered 0, 1, 2... in insertion order (open addressing, linear probing).
struct ByteSet {
  /// All keys, back to back.
  private var pool: [UInt8] = []
  /// Key k is pool[bounds[k]..<bounds[k + 1]].
  private var bounds: [Int] = [0]
  private var hashes: [UInt64] = []
  /// Slot -> key number, or -1. The count is a power of two, at least twice the key count.
  private var slots: [Int32] = [Int32](repeating: -1, count: 16)

  var count: Int { hashes.count }

  /// The number of `key`, or nil.
  func find(_ key: UnsafeBufferPointer<UInt8>) -> Int? {
    if hashes.isEmpty { return nil }
    let h = tableHash(key)
    let mask = slots.count - 1
    var s = Int(truncatingIfNeeded: h) & mask
    return pool.withUnsafeBufferPointer { pool in
      while true {
        let k = Int(slots[s])
        if k < 0 { return nil }
        if hashes[k] == h {
          let a = bounds[k]
          let len = bounds[k + 1] - a
          if len == key.count
            && (len == 0 || memcmpEqual(pool.baseAddress! + a, key.baseAddress!, len))
          {
            return k
          }
        }
        s = (s + 1) & mask
      }
    }
  }

  /// The number of `key`, inserting it when new.
  @discardableResult
  mutating func insert(_ key: UnsafeBufferPointer<UInt8>) -> (index: Int, inserted: Bool) {
    if let k = find(key) { return (k, false) }
    if (count + 1) * 2 > slots.count { grow() }
    let h = tableHash(key)
    let k = count
    pool.append(contentsOf: key)
    bounds.append(pool.count)
    hashes.append(h)
    place(k, hash: h)
    return (k, true)
  }

  @discardableResult
  mutating func insert(_ key: [UInt8]) -> (index: Int, inserted: Bool) {
    key.withUnsafeBufferPointer { insert($0) }
  }

  func find(_ key: [UInt8]) -> Int? { key.withUnsafeBufferPointer { find($0) } }

  /// The bytes of key number `k`.
  func key(_ k: Int) -> [UInt8] { Array(pool[bounds[k]..<bounds[k + 1]]) }

  private mutating func place(_ k: Int, hash h: UInt64) {
    let mask = slots.count - 1
    var s = Int(truncatingIfNeeded: h) & mask
    while slots[s] >= 0 { s = (s + 1) & mask }
    slots[s] = Int32(k)
  }

  private mutating func grow() {
    slots = [Int32](repeating: -1, count: slots.count * 2)
    for k in 0..<count { place(k, hash: hashes[k]) }
  }
}

@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
  for j in 0..<n where a[j] != b[j] { return false }
  return true
}
