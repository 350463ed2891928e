#ifndef MTLC_MALLOC_COUNTER_H
#define MTLC_MALLOC_COUNTER_H
/// Heap allocations made by this process so far (malloc, calloc, realloc, aligned allocations).
/// Linked only into the benchmark: it counts by interposing the allocator.
unsigned long long mtlc_malloc_count(void);
#endif
