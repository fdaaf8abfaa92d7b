/// Maps a list with an async function, sequentially or in a task group with a concurrency limit.
enum ConcurrentMap {
    /// Returns `transform` of every element, in order, running at most `maxConcurrency` at once.
    /// The first error cancels the rest and is rethrown.
    static func map<Element: Sendable, Result: Sendable>(
        _ elements: [Element],
        maxConcurrency: Int,
        _ transform: @escaping @Sendable (Element) async throws -> Result
    ) async throws -> [Result] {
        if maxConcurrency <= 1 || elements.count <= 1 {
            var results: [Result] = []
            results.reserveCapacity(elements.count)
            for element in elements {
                try Task.checkCancellation()
                results.append(try await transform(element))
            }
            return results
        }
        return try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var slots = [Result?](repeating: nil, count: elements.count)
            var next = 0
            let limit = min(maxConcurrency, elements.count)
            while next < limit {
                let index = next
                group.addTask { (index, try await transform(elements[index])) }
                next += 1
            }
            while let (index, result) = try await group.next() {
                slots[index] = result
                if next < elements.count {
                    let index = next
                    group.addTask { (index, try await transform(elements[index])) }
                    next += 1
                }
            }
            return slots.map { $0! }
        }
    }
}
