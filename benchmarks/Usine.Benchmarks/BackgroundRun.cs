namespace Usine.Benchmarks;

/// <summary>Something a benchmark runs in the background until it is disposed: then cancelled, and awaited to its end.</summary>
internal abstract class BackgroundRun(Task running, CancellationTokenSource stop) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        try
        {
            await running;
        }
        catch (OperationCanceledException)
        {
            // It ends by cancellation.
        }

        stop.Dispose();
    }
}
