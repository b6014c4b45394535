using MQTTnet;
using Usine.Connectors.Mqtt.Internal;
using Usine.Ingestion;
using Usine.Pipeline;

namespace Usine.Connectors.Mqtt;

public sealed partial class MqttSourceConnector
{
    /// <summary>A message as handed over by the client, waiting for its batch to be committed.</summary>
    private readonly record struct Pending(
        MqttApplicationMessageReceivedEventArgs Delivery,
        Connection Connection,
        DateTime ReceivedAt,
        byte[] Payload,
        string Topic);

    /// <summary>
    /// Cuts the buffer into batches (full, or as old as the batch window), ingests each until it is
    /// committed, then acknowledges its messages in the order they arrived, as MQTT requires. Two batches
    /// are in flight, so that the engine runs the pipeline of one while the store commits the other; the
    /// older one is always acknowledged first.
    /// </summary>
    private async Task BatchLoopAsync(CancellationToken drain)
    {
        var reader = _buffer.Reader;
        var inflight = new Queue<(Task Ingest, List<Pending> Batch)>();
        while (true)
        {
            if (!reader.TryPeek(out _))
            {
                // Nothing waiting: finish what is in flight before blocking, so a quiet stream is acknowledged.
                while (inflight.Count > 0)
                {
                    await CompleteOldestAsync(inflight);
                }

                if (!await reader.WaitToReadAsync(drain))
                {
                    return;
                }
            }

            var batch = new List<Pending>(_settings.BatchSize);
            while (batch.Count < _settings.BatchSize && reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            if (batch.Count < _settings.BatchSize)
            {
                await FillUntilWindowClosesAsync(reader, batch, drain);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            var messages = new RawMessage[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                var r = batch[i];
                messages[i] = new RawMessage(_nextPosition++, r.ReceivedAt, r.Payload, r.Topic);
            }

            inflight.Enqueue((IngestUntilCommittedAsync(new IngestBatch { SourceId = _source.Id, StreamId = StreamId, Messages = messages }, drain), batch));
            while (inflight.Count > 1)
            {
                await CompleteOldestAsync(inflight);
            }
        }
    }

    private async Task CompleteOldestAsync(Queue<(Task Ingest, List<Pending> Batch)> inflight)
    {
        var (ingest, batch) = inflight.Dequeue();
        await ingest;
        await AcknowledgeAsync(batch);
    }

    private async Task FillUntilWindowClosesAsync(System.Threading.Channels.ChannelReader<Pending> reader, List<Pending> batch, CancellationToken drain)
    {
        using var window = new CancellationTokenSource(_settings.BatchWindow, _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(window.Token, drain);
        try
        {
            while (batch.Count < _settings.BatchSize)
            {
                if (reader.TryRead(out var item))
                {
                    batch.Add(item);
                }
                else if (!await reader.WaitToReadAsync(either.Token))
                {
                    return; // stopping: the buffer is complete and empty
                }
            }
        }
        catch (OperationCanceledException) when (!drain.IsCancellationRequested)
        {
            // The window closed: ship what there is.
        }
    }

    private async Task IngestUntilCommittedAsync(IngestBatch batch, CancellationToken drain)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var result = await _ingestor.IngestAsync(batch, drain);
                Interlocked.Add(ref _ingested, batch.Messages.Count);
                _job?.Record(result);
                TrySetState(MqttConnectorState.Retrying, MqttConnectorState.Running);
                return;
            }
            catch (OperationCanceledException) when (drain.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                // The same batch, same positions: the store keeps the first commit if one got through.
                _lastError = ex;
                Interlocked.Increment(ref _ingestRetries);
                if (!TrySetState(MqttConnectorState.Running, MqttConnectorState.Retrying) && State == MqttConnectorState.Retrying)
                {
                    // Still retrying: the job's last error follows the latest failure.
                    UpdateJob(MqttConnectorState.Retrying);
                }

                var delay = Backoff.Delay(attempt, _options.IngestRetryMinBackoff, _options.IngestRetryMaxBackoff);
                _logger.IngestRetry(ex, _source.Id, batch.Messages.Count, attempt, delay);
                await Task.Delay(delay, _time, drain);
            }
            catch (Exception ex)
            {
                _lastError = ex;
                _logger.IngestFailed(ex, _source.Id, batch.Messages.Count);
                throw;
            }
        }
    }

    private async Task AcknowledgeAsync(List<Pending> batch)
    {
        var skipped = 0;
        var broken = false;
        await _connectionLock.WaitAsync(CancellationToken.None);
        try
        {
            foreach (var r in batch)
            {
                if (broken || !ReferenceEquals(r.Connection, _current) || !r.Connection.IsAlive)
                {
                    skipped++;
                    continue;
                }

                try
                {
                    await r.Delivery.AcknowledgeAsync(CancellationToken.None);
                    Interlocked.Increment(ref _acknowledged);
                }
                catch (Exception ex)
                {
                    // The connection broke under us; the remaining acknowledgements would fail the same way.
                    _logger.AcknowledgeFailed(ex, _source.Id);
                    broken = true;
                    skipped++;
                }
            }
        }
        finally
        {
            _connectionLock.Release();
        }

        if (skipped > 0)
        {
            _logger.AcknowledgeSkipped(_source.Id, skipped);
        }
    }
}
