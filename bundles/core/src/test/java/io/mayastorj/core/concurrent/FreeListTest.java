package io.mayastorj.core.concurrent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class FreeListTest {

    @Test
    void popsWhatWasAddedAndPushedBack() {
        FreeList<String> list = new FreeList<>(3);
        list.add(i -> "item" + i);
        list.add(i -> "item" + i);
        assertEquals(2, list.added());
        Set<String> popped = new HashSet<>(List.of(list.pop(), list.pop()));
        assertEquals(Set.of("item0", "item1"), popped);
        assertNull(list.pop());
        assertTrue(list.isEmpty());
        list.push(1);
        assertEquals("item1", list.pop());
        assertEquals("item2", list.addTaken(i -> "item" + i), "handed out, not listed");
        assertNull(list.pop());
        assertNull(list.addTaken(i -> "x"), "at capacity");
        list.push(2);
        assertEquals("item2", list.pop());
        assertEquals("free list full: 3 items",
                assertThrows(IllegalStateException.class, () -> list.add(i -> "x")).getMessage());
    }

    /**
     * Many more threads than cores, so that threads are preempted mid-operation: an item is never
     * handed to two threads at once and none is lost (a bounded MPMC ring failed exactly this).
     */
    @Test
    void oversubscribedThreadsNeitherLoseNorShareItems() throws Exception {
        int items = 64;
        FreeList<Integer> list = new FreeList<>(items);
        for (int i = 0; i < items; i++) {
            list.add(Integer::valueOf);
        }
        AtomicIntegerArray owners = new AtomicIntegerArray(items);
        AtomicInteger shared = new AtomicInteger();
        List<Throwable> crashes = new CopyOnWriteArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            Thread thread = new Thread(() -> {
                for (int i = 0; i < 200_000; i++) {
                    Integer item = list.pop();
                    if (item == null) {
                        continue;
                    }
                    if (owners.incrementAndGet(item) != 1) {
                        shared.incrementAndGet();
                    }
                    owners.decrementAndGet(item);
                    list.push(item);
                }
            });
            thread.setUncaughtExceptionHandler((crashed, e) -> crashes.add(e));
            threads.add(thread);
            thread.start();
        }
        for (Thread thread : threads) {
            thread.join();
        }
        assertEquals(List.of(), crashes);
        assertEquals(0, shared.get());
        Set<Integer> left = new HashSet<>();
        Integer item;
        while ((item = list.pop()) != null) {
            assertTrue(left.add(item), "item " + item + " twice in the list");
        }
        assertEquals(items, left.size());
    }
}
