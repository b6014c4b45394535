using Usine.Sources;

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

/// <summary>What the benchmarks' background sources share.</summary>
internal static class BackgroundSources
{
    /// <summary>Waits until <paramref name="runner"/> is connected and subscribed; throws with its last error after 30 s or when it ended.</summary>
    public static async Task WaitUntilRunningAsync(SourceRunner runner, Task running, string what, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (runner.State != ConnectorState.Running)
        {
            if (DateTime.UtcNow > deadline || running.IsCompleted)
            {
                throw new UsineException($"{what} could not subscribe: {runner.LastError?.Message ?? runner.State.ToString()}");
            }

            await Task.Delay(20, ct);
        }
    }
}
