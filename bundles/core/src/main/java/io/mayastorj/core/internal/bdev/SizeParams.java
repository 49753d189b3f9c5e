package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.error.MayastorException;
import java.util.OptionalLong;

/** The size parameters of RAM-style bdevs: {@code size_mb} or {@code num_blocks}, and {@code blk_size}. */
record SizeParams(int blockSize, long blockCount) {

    static final long MAX_BYTES = 1L << 50; // 1 PiB: anything larger is a typo

    static SizeParams parse(BdevUri uri) {
        int blockSize = blockSize(uri, 512);
        OptionalLong sizeMb = uri.longParam("size_mb");
        OptionalLong numBlocks = uri.longParam("num_blocks");
        if (sizeMb.isPresent() && numBlocks.isPresent()) {
            throw MayastorException.invalidArgument("'%s': give size_mb or num_blocks, not both", uri);
        }
        if (sizeMb.isEmpty() && numBlocks.isEmpty()) {
            throw MayastorException.invalidArgument("'%s': the size is missing: add size_mb=N or num_blocks=N", uri);
        }
        long bytes;
        if (sizeMb.isPresent()) {
            long mb = sizeMb.getAsLong();
            if (mb <= 0) {
                throw MayastorException.invalidArgument("'%s': size_mb must be greater than zero", uri);
            }
            if (mb > MAX_BYTES >> 20) {
                throw MayastorException.invalidArgument("'%s': size_mb=%d is beyond the 1 PiB limit", uri, mb);
            }
            bytes = mb << 20;
        } else {
            long blocks = numBlocks.getAsLong();
            if (blocks <= 0) {
                throw MayastorException.invalidArgument("'%s': num_blocks must be greater than zero", uri);
            }
            if (blocks > MAX_BYTES / blockSize) {
                throw MayastorException.invalidArgument("'%s': num_blocks=%d is beyond the 1 PiB limit", uri, blocks);
            }
            bytes = blocks * blockSize;
        }
        return new SizeParams(blockSize, bytes / blockSize);
    }

    /** {@code blk_size}: 512 or 4096, else {@code fallback}. */
    static int blockSize(BdevUri uri, int fallback) {
        OptionalLong value = uri.longParam("blk_size");
        if (value.isEmpty()) {
            return fallback;
        }
        long size = value.getAsLong();
        if (size != 512 && size != 4096) {
            throw MayastorException.invalidArgument("'%s': blk_size must be 512 or 4096, not %d", uri, size);
        }
        return (int) size;
    }

    /** The device name from a {@code scheme:///name} URI. */
    static String name(BdevUri uri) {
        uri.requireNoHost();
        String name = uri.pathName();
        if (name.isEmpty()) {
            throw MayastorException.invalidArgument("'%s': the URI needs a name: %s:///NAME?size_mb=N", uri, uri.scheme());
        }
        if (!name.matches("[A-Za-z0-9._:-]+")) {
            throw MayastorException.invalidArgument(
                    "'%s': bdev name '%s' may hold only letters, digits, '.', '_', ':' and '-'", uri, name);
        }
        return name;
    }
}
