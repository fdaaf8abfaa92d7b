#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension UnsafeRawBufferPointer {
    /// Whether both hold the same bytes, compared with `memcmp` (the generic `elementsEqual` walks them
    /// through iterators one byte at a time).
    @inline(__always)
    func hasSameBytes(as other: UnsafeRawBufferPointer) -> Bool {
        guard count == other.count else { return false }
        guard count > 0, let a = baseAddress, let b = other.baseAddress else { return true }
        return memcmp(a, b, count) == 0
    }

    /// Whether it holds exactly the UTF-8 bytes of `literal`.
    @inline(__always)
    func hasSameBytes(as literal: StaticString) -> Bool {
        hasSameBytes(as: UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }
}
