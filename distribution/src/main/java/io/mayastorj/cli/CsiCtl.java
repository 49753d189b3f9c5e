package io.mayastorj.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.csi.CsiEndpoint;
import io.mayastorj.csi.v1.ControllerGrpc;
import io.mayastorj.csi.v1.IdentityGrpc;
import io.mayastorj.csi.v1.NodeGrpc;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * {@code mayastor ctl csi}: any CSI method against any driver endpoint, the request and the answer
 * as JSON — what a person uses to poke a driver by hand, as the kubelet or a sidecar would.
 */
final class CsiCtl {

    static final String USAGE = """
              csi METHOD [JSON|-] --endpoint unix:///path/csi.sock|HOST:PORT
                                                  call a CSI method (GetPluginInfo, CreateVolume,
                                                  NodeStageVolume, ...) with a request in JSON ({} when
                                                  none; - reads it from standard input); prints the answer
                                                  (--timeout defaults to 120 here: a stage may format a disk)
            """;

    private static final List<ServiceDescriptor> SERVICES = List.of(IdentityGrpc.getServiceDescriptor(),
            ControllerGrpc.getServiceDescriptor(), NodeGrpc.getServiceDescriptor());

    private CsiCtl() {
    }

    static int run(Args args, PrintStream out, PrintStream err) {
        for (String name : args.names()) {
            // --node, --control, --json and the rest mean nothing here: taken without a word, the call went to
            // $CSI_ENDPOINT while the user thought it went where --control said
            if (!name.equals("endpoint") && !name.equals("timeout") && !name.equals("help") && !name.equals("json")) {
                throw new UsageException("--" + name + " does not apply to 'csi' (it takes --endpoint and --timeout); see "
                        + "mayastor ctl --help");
            }
        }
        args.atMost(3, "mayastor ctl csi METHOD [JSON|-] --endpoint ENDPOINT");
        String method = args.positional(1, "the CSI method, e.g. GetPluginInfo");
        MethodDescriptor<Message, Message> md = method(method);
        String json = args.positional().size() > 2 ? args.positional(2, "") : "{}";
        if (json.equals("-")) {
            try {
                json = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UsageException("cannot read the request: " + e.getMessage());
            }
        }
        Message request;
        try {
            Message.Builder b = ((MethodDescriptor.PrototypeMarshaller<Message>) md.getRequestMarshaller())
                    .getMessagePrototype().newBuilderForType();
            JsonFormat.parser().merge(json, b);
            request = b.build();
        } catch (InvalidProtocolBufferException e) {
            throw new UsageException("the request is not a " + method + " request in JSON: " + e.getMessage());
        }
        String endpoint = args.option("endpoint", System.getenv("CSI_ENDPOINT"));
        if (endpoint == null || endpoint.isBlank()) {
            throw new UsageException("csi needs --endpoint unix:///path/csi.sock (or HOST:PORT, or $CSI_ENDPOINT)");
        }
        long timeout = args.longOption("timeout", 120);
        if (timeout < 1) {
            throw new UsageException("--timeout " + timeout + ": at least 1 (seconds)");
        }
        CsiEndpoint e;
        try {
            e = CsiEndpoint.parse(endpoint);
        } catch (MayastorException bad) {
            throw new UsageException(bad.getMessage());
        }
        ManagedChannel channel = e.channel();
        try {
            Message reply = ClientCalls.blockingUnaryCall(channel, md,
                    CallOptions.DEFAULT.withDeadlineAfter(timeout, TimeUnit.SECONDS), request);
            out.println(Output.json(JsonFormat.printer().print(reply)));
            return 0;
        } catch (StatusRuntimeException failed) {
            if (NodeClient.unreachable(failed)) {
                err.println("error: cannot reach the CSI endpoint " + endpoint + ": nothing answers there (is the CSI plugin"
                        + " running, and is that its socket? --endpoint)");
                return Ctl.EXIT_UNREACHABLE;
            }
            if (NodeClient.wrongServer(failed)) {
                err.println("error: " + endpoint + " is not a CSI endpoint, or not one that serves " + method + ": "
                        + failed.getStatus().getCode() + " " + failed.getStatus().getDescription());
                return Ctl.EXIT_USAGE;
            }
            err.println("error: " + failed.getStatus().getCode() + ": " + failed.getStatus().getDescription());
            return Ctl.EXIT_REFUSED;
        } catch (InvalidProtocolBufferException cannot) {
            err.println("error: cannot print the answer: " + cannot.getMessage());
            return Ctl.EXIT_REFUSED;
        } finally {
            channel.shutdownNow();
        }
    }

    @SuppressWarnings("unchecked")
    private static MethodDescriptor<Message, Message> method(String name) {
        List<String> all = new ArrayList<>();
        for (ServiceDescriptor s : SERVICES) {
            for (MethodDescriptor<?, ?> m : s.getMethods()) {
                if (name.equalsIgnoreCase(m.getBareMethodName())) {
                    return (MethodDescriptor<Message, Message>) m;
                }
                all.add(m.getBareMethodName());
            }
        }
        throw new UsageException("no CSI method " + name + "; there are " + String.join(", ", new TreeSet<>(all)));
    }
}
