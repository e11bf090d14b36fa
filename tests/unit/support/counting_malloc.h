// Heap allocations counted per thread (see counting_malloc.cpp): a test turns counting on for the
// thread whose allocations it asserts on, and reads the total.
#pragma once

namespace unit_support {

void count_allocations_here(bool on);  // for the calling thread
long allocations_counted();            // since the start of the process, all counting threads
void trace_allocations(int n);         // the next n counted allocations print their call stack
bool counting_available();             // false in sanitizer builds, whose allocator stays in place

}  // namespace unit_support
