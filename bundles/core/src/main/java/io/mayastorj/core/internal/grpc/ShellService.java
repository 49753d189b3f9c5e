package io.mayastorj.core.internal.grpc;

import io.grpc.BindableService;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.ShellRequest;
import io.mayastorj.api.v1.ShellResponse;
import io.mayastorj.api.v1.ShellRpcGrpc;
import io.mayastorj.core.error.MayastorException;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.apache.felix.service.command.Converter;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;

/**
 * ShellRpc: runs one Gogo command line in a fresh session and returns what it printed and its
 * result. Loopback clients only (the server adds the guard for this service's property).
 */
@Component(service = BindableService.class, property = LoopbackOnly.PROPERTY + "=true")
public final class ShellService extends ShellRpcGrpc.ShellRpcImplBase {

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC)
    private volatile CommandProcessor processor;

    @Override
    public void execute(ShellRequest request, StreamObserver<ShellResponse> response) {
        CommandProcessor shell = processor;
        if (shell == null) {
            throw MayastorException.unavailable("the Gogo shell runtime is not running on this node");
        }
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        ShellResponse.Builder reply = ShellResponse.newBuilder();
        try (PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8);
             CommandSession session = shell.createSession(InputStream.nullInputStream(), out, out)) {
            Object result = session.execute(request.getCommand());
            if (result != null) {
                String text = session.format(result, Converter.INSPECT).toString();
                out.print(text.endsWith("\n") ? text : text + "\n");
            }
        } catch (Exception e) {
            reply.setFailed(true).setError(e.getMessage() == null ? e.toString() : e.getMessage());
        }
        response.onNext(reply.setOutput(captured.toString(StandardCharsets.UTF_8)).build());
        response.onCompleted();
    }
}
