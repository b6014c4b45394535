using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Usine.Ingestion;
using Usine.Pipeline;

namespace Usine.Connectors.OpcUa.Tests;

internal static class Wait
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(30);

    /// <summary>Polls <paramref name="condition"/> until it holds, failing with <paramref name="expectation"/> after <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string expectation, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Default);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {(timeout ?? Default).TotalSeconds} s waiting for {expectation}");
            }

            await Task.Delay(20);
        }
    }
}

internal static class TestSources
{
    public static SourceDefinition OpcUa(Uri endpoint, IReadOnlyDictionary<string, string> settings, string? id = null)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal) { ["endpoint"] = endpoint.ToString() };
        foreach (var (k, v) in settings)
        {
            all[k] = v;
        }

        return new SourceDefinition
        {
            Id = id ?? $"opcua-{Guid.NewGuid():N}",
            Plant = Template.Parse("test"),
            Kind = OpcUaConnectors.Kind,
            Model = "test",
            Settings = all,
        };
    }

    /// <summary>Options that retry fast, so a test spends its time on what it checks.</summary>
    public static OpcUaConnectorOptions Fast => new()
    {
        ReconnectMinBackoff = TimeSpan.FromMilliseconds(100),
        ReconnectMaxBackoff = TimeSpan.FromMilliseconds(500),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        RequestTimeout = TimeSpan.FromSeconds(10),
        IngestRetryMinBackoff = TimeSpan.FromMilliseconds(20),
        IngestRetryMaxBackoff = TimeSpan.FromMilliseconds(100),
        DrainTimeout = TimeSpan.FromSeconds(5),
    };
}

/// <summary>A data change as the connector wrote it.</summary>
internal sealed record Change(long Position, string Node, string BrowsePath, JsonElement Value, string Status, string StatusCode, DateTime? SourceTimestamp, DateTime? ServerTimestamp)
{
    public static Change From(RawMessage m)
    {
        var root = JsonDocument.Parse(m.Payload).RootElement;
        return new Change(
            m.Position,
            root.GetProperty("node").GetString()!,
            root.GetProperty("browsePath").GetString()!,
            root.GetProperty("value").Clone(),
            root.GetProperty("status").GetString()!,
            root.GetProperty("statusCode").GetString()!,
            root.GetProperty("sourceTimestamp").ValueKind == JsonValueKind.Null ? null : root.GetProperty("sourceTimestamp").GetDateTime(),
            root.GetProperty("serverTimestamp").ValueKind == JsonValueKind.Null ? null : root.GetProperty("serverTimestamp").GetDateTime());
    }
}

/// <summary>An ingestor that commits in memory, keeping each stream's checkpoint and every message committed.</summary>
internal sealed class RecordingStore : IIngestor
{
    private readonly Lock _lock = new();
    private readonly List<Change> _committed = [];
    private readonly Dictionary<string, long> _checkpoints = [];

    public IReadOnlyList<Change> Committed
    {
        get
        {
            lock (_lock)
            {
                return [.. _committed];
            }
        }
    }

    public Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_checkpoints.TryGetValue(streamId, out var c) ? c : (long?)null);
        }
    }

    public Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var m in batch.Messages)
            {
                _committed.Add(Change.From(m));
            }

            var checkpoint = batch.Checkpoint ?? batch.Messages[^1].Position;
            _checkpoints[batch.StreamId] = Math.Max(checkpoint, _checkpoints.GetValueOrDefault(batch.StreamId));
            return Task.FromResult(new IngestResult(batch.Messages.Count, batch.Messages.Count, 0, 0, checkpoint));
        }
    }
}

/// <summary>Writes log lines to the test output and keeps them, so a test can check what was logged.</summary>
internal sealed class TestLogger<T>(ITestOutputHelper output) : ILogger<T>
{
    private readonly ConcurrentQueue<(int EventId, LogLevel Level, string Message)> _lines = new();

    public IReadOnlyList<(int EventId, LogLevel Level, string Message)> Lines => [.. _lines];

    public bool Has(int eventId) => _lines.Any(l => l.EventId == eventId);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var message = formatter(state, exception);
        _lines.Enqueue((eventId.Id, logLevel, message));
        try
        {
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {eventId.Id} {message}");
        }
        catch (InvalidOperationException)
        {
            // Logged after the test finished.
        }
    }
}
