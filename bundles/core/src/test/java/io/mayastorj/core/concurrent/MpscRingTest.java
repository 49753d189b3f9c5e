package io.mayastorj.core.concurrent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MpscRingTest {

    @Test
    void isFirstInFirstOutAndBounded() {
        MpscRing<Integer> ring = new MpscRing<>(5);
        assertEquals(8, ring.capacity());
        for (int i = 0; i < 8; i++) {
            assertTrue(ring.offer(i));
        }
        assertFalse(ring.offer(99), "full");
        assertEquals(8, ring.size());
        for (int i = 0; i < 8; i++) {
            assertEquals(i, ring.poll());
        }
        assertNull(ring.poll());
        assertTrue(ring.offer(8), "wraps around");
        assertEquals(8, ring.poll());
        assertTrue(ring.isEmpty());
    }

    /**
     * Four producers on two cores into a small ring: every element arrives once, and each producer's
     * elements arrive in the order it offered them, even when a producer is preempted mid-offer.
     */
    @Test
    void eachProducersElementsArriveOnceAndInOrder() throws Exception {
        MpscRing<long[]> ring = new MpscRing<>(16);
        int producers = 4;
        int perProducer = 200_000;
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            long id = p;
            threads.add(new Thread(() -> {
                for (long i = 0; i < perProducer; i++) {
                    long[] element = {id, i};
                    while (!ring.offer(element)) {
                        Thread.onSpinWait();
                    }
                }
            }));
        }
        threads.forEach(Thread::start);
        long[] expected = new long[producers];
        long received = 0;
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (received < (long) producers * perProducer && System.nanoTime() < deadline) {
            long[] element = ring.poll();
            if (element == null) {
                Thread.onSpinWait();
                continue;
            }
            int producer = (int) element[0];
            assertEquals(expected[producer], element[1], "producer " + producer + " out of order");
            expected[producer]++;
            received++;
        }
        for (Thread t : threads) {
            t.join();
        }
        assertEquals((long) producers * perProducer, received);
        assertNull(ring.poll());
    }
}
