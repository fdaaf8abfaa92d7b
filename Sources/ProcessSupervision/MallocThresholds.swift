#if canImport(Glibc)
import CProcessControl
import Glibc
#endif

/// Keeps glibc's allocator from handing freed memory back to the kernel only to fault it in again.
///
/// A pool process allocates and frees message-sized buffers (event batches of up to 256 KiB, ZeroMQ frames)
/// many thousand times a second, on several threads. With glibc's defaults each thread's arena returns the
/// free memory at its top to the kernel once it exceeds 128 KiB (`madvise(MADV_DONTNEED)`), and the next
/// buffer touches fresh pages: a worker spent about a tenth of its CPU in page faults and `madvise`. With
/// ``apply()`` an arena keeps up to ``trimBytes`` free, and allocations below ``mmapBytes`` come from the
/// arenas rather than from pages of their own.
///
/// Nothing changes where the process's environment already sets glibc's malloc options
/// (`GLIBC_TUNABLES` with `glibc.malloc.`, or `MALLOC_TRIM_THRESHOLD_` / `MALLOC_MMAP_THRESHOLD_`), nor
/// on systems without glibc.
package enum MallocThresholds {
    /// Free bytes an arena keeps before returning memory to the kernel.
    package static let trimBytes: Int32 = 64 << 20
    /// Allocations of at least this many bytes are served by their own mapping.
    package static let mmapBytes: Int32 = 8 << 20

    /// Sets the thresholds unless the environment chose its own; returns whether it set them.
    @discardableResult
    package static func apply() -> Bool {
        #if canImport(Glibc)
        if let tunables = getenv("GLIBC_TUNABLES"), String(cString: tunables).contains("glibc.malloc.") {
            return false
        }
        if getenv("MALLOC_TRIM_THRESHOLD_") != nil || getenv("MALLOC_MMAP_THRESHOLD_") != nil { return false }
        return flowpool_set_malloc_thresholds(trimBytes, mmapBytes) == 1
        #else
        return false
        #endif
    }
}
