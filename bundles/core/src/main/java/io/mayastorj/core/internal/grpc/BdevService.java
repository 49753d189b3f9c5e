package io.mayastorj.core.internal.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import io.grpc.BindableService;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.Bdev;
import io.mayastorj.api.v1.BdevIoStats;
import io.mayastorj.api.v1.BdevRpcGrpc;
import io.mayastorj.api.v1.CreateBdevRequest;
import io.mayastorj.api.v1.CreateBdevResponse;
import io.mayastorj.api.v1.DestroyBdevRequest;
import io.mayastorj.api.v1.ListBdevOptions;
import io.mayastorj.api.v1.ListBdevResponse;
import io.mayastorj.api.v1.ReadBdevRequest;
import io.mayastorj.api.v1.ReadBdevResponse;
import io.mayastorj.api.v1.WriteBdevRequest;
import io.mayastorj.api.v1.WriteBdevResponse;
import io.mayastorj.core.bdev.BdevInfo;
import io.mayastorj.core.bdev.BdevRegistry;
import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.api.v1.ShareBdevRequest;
import io.mayastorj.api.v1.ShareBdevResponse;
import io.mayastorj.api.v1.UnshareBdevRequest;
import io.mayastorj.core.transport.ShareManager;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.core.transport.ShareStatus;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.List;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** BdevRpc: a thin adapter from the node API to the bdev registry. */
@Component(service = BindableService.class)
public final class BdevService extends BdevRpcGrpc.BdevRpcImplBase {

    static final int MAX_TRANSFER = 1 << 20;
    private static final Duration IO_TIMEOUT = Duration.ofSeconds(30);

    private final BdevRegistry registry;
    private final BufferPool buffers;
    private static final Logger LOG = System.getLogger("mayastor.bdev");
    private final ShareManager shares;

    @Activate
    public BdevService(@Reference BdevRegistry registry, @Reference BufferPool buffers,
                       @Reference ShareManager shares) {
        this.registry = registry;
        this.buffers = buffers;
        this.shares = shares;
    }

    @Override
    public void create(CreateBdevRequest request, StreamObserver<CreateBdevResponse> response) {
        BlockDevice device = registry.create(request.getUri());
        BdevInfo info = registry.list().stream().filter(i -> i.device() == device).findFirst()
                .orElseThrow(() -> MayastorException.notFound("bdev %s vanished as it was created", device.name()));
        response.onNext(CreateBdevResponse.newBuilder().setBdev(toProto(info)).build());
        response.onCompleted();
    }

    @Override
    public void destroy(DestroyBdevRequest request, StreamObserver<Empty> response) {
        if (request.getForce()) {
            // a bdev held by its share only: unshare it first (its hosts go), then destroy. One that
            // is not ours to destroy (a replica's, a nexus's: no URI) or that something else holds
            // keeps its share: the destroy below refuses it, and cutting the hosts off first would
            // have dropped a volume for nothing
            registry.lookup(request.getName()).or(() -> byUri(request.getName()))
                    .filter(device -> shares.status(device.name()).isPresent())
                    .filter(device -> registry.list().stream().anyMatch(i -> i.device() == device && i.uri() != null
                            && (i.claimedBy() == null || i.claimedBy().startsWith("share "))))
                    .ifPresent(device -> unshare(device.name(), true, "destroy"));
        }
        registry.destroy(request.getName());
        response.onNext(Empty.getDefaultInstance());
        response.onCompleted();
    }

    /** The bdev a URI names; empty for a name that is no URI (a missing bdev's name: NOT_FOUND below, not a bad URI). */
    private java.util.Optional<io.mayastorj.core.bdev.BlockDevice> byUri(String name) {
        try {
            return registry.findByUri(name);
        } catch (MayastorException e) {
            if (e.kind() == io.mayastorj.core.error.ErrorKind.INVALID_ARGUMENT) {
                return java.util.Optional.empty();
            }
            throw e;
        }
    }

    @Override
    public void list(ListBdevOptions request, StreamObserver<ListBdevResponse> response) {
        List<BdevInfo> infos = registry.list();
        ListBdevResponse.Builder reply = ListBdevResponse.newBuilder();
        for (BdevInfo info : infos) {
            if (request.getName().isEmpty() || request.getName().equals(info.device().name())) {
                reply.addBdevs(toProto(info));
            }
        }
        if (!request.getName().isEmpty() && reply.getBdevsCount() == 0) {
            throw MayastorException.notFound("bdev %s not found", request.getName());
        }
        response.onNext(reply.build());
        response.onCompleted();
    }

    @Override
    public void read(ReadBdevRequest request, StreamObserver<ReadBdevResponse> response) {
        BlockDevice device = find(request.getName());
        int length = request.getLength();
        long lba = checkTransfer(device, request.getOffset(), Integer.toUnsignedLong(length));
        DmaBuffer buffer = allocate(length);
        try {
            IoStatus status = BlockingIo.read(device, buffer, 0, lba, length / device.blockSize(), IO_TIMEOUT);
            check(status, "read", device, request.getOffset(), length);
            ByteString data = ByteString.copyFrom(buffer.bytes().duplicate().limit(length));
            response.onNext(ReadBdevResponse.newBuilder().setData(data).build());
        } finally {
            buffer.release();
        }
        response.onCompleted();
    }

    @Override
    public void write(WriteBdevRequest request, StreamObserver<WriteBdevResponse> response) {
        BlockDevice device = find(request.getName());
        String owner = registry.list().stream().filter(i -> i.device() == device).map(BdevInfo::claimedBy)
                .filter(java.util.Objects::nonNull).findFirst().orElse(null);
        if (owner != null && !owner.startsWith("share ")) {
            // a pool's disk (its metadata), a nexus's child (the others would not have the write, and the
            // nexus would still count it in sync): written behind its owner's back, data is lost silently
            throw MayastorException.failedPrecondition("bdev %s is in use by %s: write through it, not to the bdev",
                    request.getName(), owner);
        }
        if (owner != null && !"Nexus".equals(device.productName())) {
            // shared, and a host is connected: a replica a nexus on another node mirrors (its share is the
            // only claim here), whose other children would not have the write. A nexus is written through
            List<String> hosts = shares.connectedHosts(device.name());
            if (!hosts.isEmpty()) {
                throw MayastorException.failedPrecondition("bdev %s is shared and in use by %s: write through what uses it, "
                        + "not to the bdev", request.getName(), String.join(", ", hosts));
            }
        }
        int length = request.getData().size();
        long lba = checkTransfer(device, request.getOffset(), length);
        DmaBuffer buffer = allocate(length);
        try {
            request.getData().copyTo(buffer.bytes().duplicate());
            IoStatus status = BlockingIo.write(device, buffer, 0, lba, length / device.blockSize(), IO_TIMEOUT);
            check(status, "write", device, request.getOffset(), length);
            if (request.getFlush()) {
                check(BlockingIo.flush(device, IO_TIMEOUT), "flush", device, 0, 0);
            }
        } finally {
            buffer.release();
        }
        response.onNext(WriteBdevResponse.newBuilder().setBytesWritten(length).build());
        response.onCompleted();
    }

    @Override
    public void share(ShareBdevRequest request, StreamObserver<ShareBdevResponse> response) {
        String protocol = !request.getProtocolName().isEmpty() ? request.getProtocolName() : switch (request.getProtocol()) {
            case NVMF -> "nvmf";
            case ISCSI -> "iscsi";
            default -> throw MayastorException.invalidArgument("share protocol %s: expected nvmf, iscsi or a protocol name "
                    + "(this node has: %s)", request.getProtocol(), String.join(", ", shares.protocols()));
        };
        String uri = shares.share(request.getName(), protocol,
                new ShareOptions(request.getAllowedHostsList(), request.getPropertiesMap()));
        response.onNext(ShareBdevResponse.newBuilder().setUri(uri == null ? "" : uri).build()); // "": it waits
        response.onCompleted();
    }

    @Override
    public void unshare(UnshareBdevRequest request, StreamObserver<Empty> response) {
        // idempotent, as sharing the same way twice is: a bdev that is not shared is left as it is
        if (shares.status(find(request.getName()).name()).isPresent()) {
            unshare(request.getName(), request.getForce(), "unshare");
        }
        response.onNext(Empty.getDefaultInstance());
        response.onCompleted();
    }

    /** Unshares a bdev; refused while hosts are connected, unless forced (logged). */
    private void unshare(String name, boolean force, String action) {
        List<String> hosts = shares.connectedHosts(name);
        String protocol = shares.status(name).map(ShareStatus::protocol).orElse("its share");
        if (!hosts.isEmpty() && !force) {
            throw MayastorException.failedPrecondition("bdev %s is in use over %s by %s; disconnect %s first, or %s it "
                    + "with force", name, protocol, String.join(", ", hosts), hosts.size() == 1 ? "it" : "them", action);
        }
        if (!hosts.isEmpty()) {
            LOG.log(Level.WARNING, "bdev {0}: {1} by request (force) although {2} is connected over {3}", name, action,
                    String.join(", ", hosts), protocol);
        }
        try {
            shares.unshare(name);
        } catch (MayastorException e) {
            if (e.kind() != io.mayastorj.core.error.ErrorKind.NOT_FOUND) {
                throw e;
            }
            // unshared by a concurrent call since the check above: what was asked for holds
        }
    }

    private BlockDevice find(String name) {
        return registry.lookup(name).orElseThrow(() -> MayastorException.notFound("bdev %s not found", name));
    }

    /** Validates a byte range for a diagnostic transfer and returns its first block. */
    private static long checkTransfer(BlockDevice device, long offset, long length) {
        int blockSize = device.blockSize();
        if (length == 0 || length > MAX_TRANSFER) {
            throw MayastorException.invalidArgument("length %d: a transfer takes 1 byte to 1 MiB", length);
        }
        if (offset % blockSize != 0 || length % blockSize != 0) {
            throw MayastorException.invalidArgument(
                    "offset %d and length %d must be multiples of bdev %s's block size (%d)",
                    offset, length, device.name(), blockSize);
        }
        if (offset < 0 || offset + length > device.sizeBytes()) {
            throw MayastorException.invalidArgument("offset %d + length %d lies beyond the end of bdev %s (%d bytes)",
                    offset, length, device.name(), device.sizeBytes());
        }
        return offset / blockSize;
    }

    private DmaBuffer allocate(int length) {
        DmaBuffer buffer = buffers.allocate(length);
        if (buffer == null) {
            throw MayastorException.resourceExhausted("no I/O buffer of %d bytes is free on the node; try again", length);
        }
        return buffer;
    }

    private static void check(IoStatus status, String what, BlockDevice device, long offset, int length) {
        if (!status.isSuccess()) {
            throw failure(status, what, device.name(), offset, length);
        }
    }

    /**
     * What a failed I/O is to a caller: a device out of reach or an I/O cut short is worth trying
     * again (UNAVAILABLE, ABORTED), a device that failed it is not (INTERNAL).
     */
    static MayastorException failure(IoStatus status, String what, String bdev, long offset, int length) {
        return switch (status) {
            case LBA_OUT_OF_RANGE -> MayastorException.invalidArgument(
                    "%s at offset %d, %d bytes: beyond the end of bdev %s", what, offset, length, bdev);
            case DEVICE_CLOSED -> MayastorException.unavailable("bdev %s is closing", bdev);
            case UNAVAILABLE -> MayastorException.unavailable("%s on bdev %s: the device cannot be reached now; try again",
                    what, bdev);
            case NO_SPACE -> MayastorException.resourceExhausted("%s on bdev %s: no space left", what, bdev);
            case TIMED_OUT -> MayastorException.deadlineExceeded("%s on bdev %s timed out", what, bdev);
            case ABORTED -> MayastorException.aborted("%s on bdev %s was cancelled; try again", what, bdev);
            case UNSUPPORTED -> new MayastorException(io.mayastorj.core.error.ErrorKind.UNIMPLEMENTED,
                    "bdev " + bdev + " does not support " + what);
            default -> MayastorException.internal("%s on bdev %s failed: %s", what, bdev, status);
        };
    }

    private Bdev toProto(BdevInfo info) {
        BlockDevice device = info.device();
        BdevStats s = device.stats();
        Bdev.Builder bdev = Bdev.newBuilder()
                .setName(device.name())
                .setUuid(device.uuid().toString())
                .setNumBlocks(device.blockCount())
                .setBlkSize(device.blockSize())
                .setClaimed(info.claimedBy() != null)
                .setClaimedBy(info.claimedBy() == null ? "" : info.claimedBy())
                .setProductName(device.productName())
                .setUri(info.uri() == null ? "bdev:///" + device.name() : info.uri())
                .setStats(BdevIoStats.newBuilder()
                        .setNumReadOps(s.readOps()).setBytesRead(s.bytesRead())
                        .setNumWriteOps(s.writeOps()).setBytesWritten(s.bytesWritten())
                        .setNumUnmapOps(s.unmapOps()).setBytesUnmapped(s.bytesUnmapped())
                        .setNumWriteZeroesOps(s.writeZeroesOps()).setBytesWriteZeroed(s.bytesZeroed())
                        .setNumFlushOps(s.flushOps()).setNumErrors(s.errors()).setInFlight(s.inFlight()));
        shares.status(device.name()).ifPresent(share -> {
            if (share.uri() != null) {
                bdev.setShareUri(share.uri());
            }
            switch (share.state()) {
                case WAITING_FOR_TRANSPORT -> bdev.setShareState("waiting for the " + share.protocol() + " transport");
                case FAILED -> bdev.setShareState("failed: " + share.error());
                default -> { }
            }
        });
        return bdev.build();
    }
}
