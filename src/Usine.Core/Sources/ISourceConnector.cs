using System.Threading.Channels;
using Usine.Pipeline;

namespace Usine.Sources;

/// <summary>
/// What talks to the outside for one source: connects, hands over each message it receives with its position,
/// and acknowledges what the runner says is committed. Everything else (batching, the in-flight limit, retries,
/// the checkpoint, the job, the counters) is the <see cref="SourceRunner"/>'s, so a connector stays thin.
/// </summary>
/// <remarks>
/// The runner drives a connector in three calls: <see cref="ReceiveAsync"/> runs while messages come (until
/// cancelled for a live source, until its input ends for a bounded one such as a file); every committed batch
/// is then passed to <see cref="AcknowledgeAsync"/>, oldest first, also after <see cref="ReceiveAsync"/>
/// returned, while the runner drains; <see cref="IAsyncDisposable.DisposeAsync"/> comes last, after the last
/// acknowledgement, and closes the connection.
/// </remarks>
public interface ISourceConnector : IAsyncDisposable
{
    /// <summary>The stream the positions belong to, with its CSV header when it has one; read each time a batch is cut.</summary>
    SourceStream Stream { get; }

    /// <summary>Where it receives from, for states and logs: a broker address, a folder, "HTTP push".</summary>
    string Endpoint { get; }

    /// <summary>
    /// Receives and writes each message to <see cref="ReceiveContext.Messages"/>, in order, waiting when it is
    /// full: that wait is the backpressure, and a connector must not buffer around it. A live connector retries a
    /// lost connection itself (telling <paramref name="context"/>) and returns when cancelled; a bounded one
    /// returns at the end of its input. Throws only when retrying cannot help.
    /// </summary>
    Task ReceiveAsync(ReceiveContext context, CancellationToken cancellationToken);

    /// <summary>The messages of a committed batch, in the order they were received; called in commit order.</summary>
    ValueTask AcknowledgeAsync(IReadOnlyList<ReceivedMessage> committed, CancellationToken cancellationToken);
}

/// <summary>The stream a connector's positions belong to (<c>mqtt:SOURCE</c>, <c>file:SOURCE:SHA256</c>...) and its CSV header.</summary>
public sealed record SourceStream(string SourceId, string StreamId, IReadOnlyList<string>? CsvHeader = null);

/// <summary>A message as a connector received it, with the connector's own handle to acknowledge it (a delivery tag, a packet id).</summary>
/// <param name="Weight">
/// How many records the message is expected to make: 1 for most, the metrics of a Sparkplug payload. The runner cuts
/// a batch once the weights of its messages reach <see cref="SourceRunnerOptions.BatchSize"/>, so that a batch holds
/// about as many records whatever the payloads carry.
/// </param>
public readonly record struct ReceivedMessage(RawMessage Message, object? Handle = null, int Weight = 1);

/// <summary>Where a connector is in its life, as the runner reports it.</summary>
public enum ConnectorState
{
    /// <summary>Created, or trying to reach its peer for the first time.</summary>
    Connecting,

    /// <summary>Connected; messages flow.</summary>
    Running,

    /// <summary>The connection was lost; the connector retries with backoff. What was not acknowledged stays with the peer.</summary>
    Reconnecting,

    /// <summary>
    /// Connected, but the batch in hand cannot be committed (the store fails: a full disk, a broken data
    /// directory); it is retried with backoff and its messages stay unacknowledged, so the peer stops sending
    /// more. <see cref="SourceRunner.LastError"/> says why.
    /// </summary>
    Retrying,

    /// <summary>Stopped on request, or a bounded run that reached its end.</summary>
    Stopped,

    /// <summary>Stopped by an error that retrying cannot fix (a refused subscription, a rejected batch); see <see cref="SourceRunner.LastError"/>.</summary>
    Failed,
}

/// <summary>A change of <see cref="SourceRunner.State"/>.</summary>
public sealed class ConnectorStateChangedEventArgs(ConnectorState previous, ConnectorState current) : EventArgs
{
    public ConnectorState Previous { get; } = previous;
    public ConnectorState Current { get; } = current;
}

/// <summary>
/// What the runner hands a connector in <see cref="ISourceConnector.ReceiveAsync"/>: where to write messages, the
/// checkpoint to resume after, and calls to say how the connection goes.
/// </summary>
public sealed class ReceiveContext
{
    private readonly SourceRunner _runner;

    internal ReceiveContext(SourceRunner runner, ChannelWriter<ReceivedMessage> messages)
    {
        _runner = runner;
        Messages = messages;
    }

    /// <summary>
    /// Bounded, of the runner's buffer capacity, full mode Wait: a connector that cannot write waits, and so
    /// stops taking (or acknowledging) more from its peer. Completed by the runner once it stops taking messages.
    /// </summary>
    public ChannelWriter<ReceivedMessage> Messages { get; }

    /// <summary>
    /// The last committed position of <see cref="ISourceConnector.Stream"/> (null: nothing committed yet), read
    /// from the store with the runner's retries. A connector numbers on after it, or skips what is at or below it.
    /// </summary>
    public Task<long?> CheckpointAsync(CancellationToken cancellationToken) => _runner.ReadCheckpointAsync(cancellationToken);

    /// <summary>
    /// Ships what was written so far as a batch now, without waiting for the batch window: the end of a file of a
    /// connector that goes on (a drop folder). In order with the messages; the buffer's backpressure applies.
    /// </summary>
    public ValueTask FlushAsync(CancellationToken cancellationToken) => Messages.WriteAsync(SourceRunner.Flush, cancellationToken);

    /// <summary>What the committed batches of the run became so far (a connector of several streams takes the difference over one).</summary>
    public SourceRunTotals Totals => _runner.Totals;

    /// <summary>The connector is connected (and subscribed): messages may flow.</summary>
    public void Connected() => _runner.OnConnected();

    /// <summary>
    /// An attempt to connect failed, or the connection was lost; the connector retries. What was not
    /// acknowledged stays with the peer.
    /// </summary>
    public void Disconnected(Exception reason) => _runner.OnDisconnected(reason);
}
