using System.Threading.Channels;

namespace Usine.Server.Internal;

/// <summary>
/// Writes alert events to the store from its own loop, so the alert engine never waits for a commit. The
/// queue holds 1000 events; when full (a store that stopped writing), the oldest waiting event is dropped and
/// logged: the history then misses it, the notifiers did not.
/// </summary>
internal sealed class AlertRecorder : IAlertNotifier, IAsyncDisposable
{
    private readonly IOperationsStore _store;
    private readonly ILogger _logger;
    private readonly Channel<AlertEvent> _queue = Channel.CreateBounded<AlertEvent>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
    private readonly Task _loop;

    public AlertRecorder(IOperationsStore store, ILogger<AlertRecorder> logger)
    {
        _store = store;
        _logger = logger;
        _loop = Task.Run(WriteLoopAsync);
    }

    public string Name => "history";

    public void Enqueue(AlertEvent alert)
    {
        while (!_queue.Writer.TryWrite(alert))
        {
            if (_queue.Reader.TryRead(out var old))
            {
                _logger.AlertHistoryDropped(old.Rule, old.Status);
            }
        }
    }

    private async Task WriteLoopAsync()
    {
        while (await _queue.Reader.WaitToReadAsync())
        {
            var batch = new List<AlertEvent>();
            while (batch.Count < 100 && _queue.Reader.TryRead(out var e))
            {
                batch.Add(e);
            }

            try
            {
                await _store.AppendAlertEventsAsync(batch, CancellationToken.None);
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException)
            {
                _logger.AlertHistoryFailed(ex, batch.Count);
            }
        }
    }

    /// <summary>Writes what is queued, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop;
    }
}
