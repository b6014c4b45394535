using MQTTnet;
using MQTTnet.Protocol;
using Usine.Simulator.Internal;

namespace Usine.Simulator;

public sealed partial class PlantSimulator
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// Publishes the messages of <see cref="Generate"/> to <see cref="SimulatorOptions.BrokerUrl"/> at
    /// <see cref="SimulatorOptions.MessagesPerSecond"/>, each at QoS 1 (at least once), and writes the energy
    /// files of <see cref="NextEnergyFile"/> into <see cref="SimulatorOptions.DropDirectory"/> as their time comes.
    /// Runs until cancelled or until <see cref="SimulatorOptions.StopAfter"/> messages are published. A lost
    /// broker is retried every second and the message in flight is published again, so none is skipped.
    /// </summary>
    /// <exception cref="OperationCanceledException">When <paramref name="cancellationToken"/> is cancelled.</exception>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var broker = _options.BrokerUrl;
        var mqttOptions = new MqttClientOptionsBuilder()
            .WithTcpServer(broker.Host, broker.Port)
            .WithClientId(_options.ClientId)
            .WithCleanSession()
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build();

        if (_options.DropDirectory is { } drop)
        {
            Directory.CreateDirectory(drop);
        }

        using var client = new MqttClientFactory().CreateMqttClient();
        await ConnectAsync(client, mqttOptions, cancellationToken);
        _logger.SimulatorStarted(_options.MessagesPerSecond, string.Join(",", _options.Plants), broker);

        // Message n is due when the wall clock reaches its simulated time: the stream keeps the configured rate
        // and event times stay close to the time of publication.
        var first = _sequence;
        var started = _time.GetTimestamp();
        Start();
        var rate = _options.MessagesPerSecond;
        var stopAt = _options.StopAfter is { } stop ? first + stop : long.MaxValue;
        using var timer = new PeriodicTimer(Tick, _time);
        var warnedAt = 0L;
        while (true)
        {
            var elapsed = _time.GetElapsedTime(started);
            var due = Math.Min(stopAt, first + (long)(elapsed.TotalSeconds * rate) + 1);
            if (due - _sequence > rate * 5 && _sequence - warnedAt > rate * 60)
            {
                _logger.FallingBehind(due - _sequence, rate);
                warnedAt = _sequence;
            }

            while (_sequence < due)
            {
                var m = Next();
                await PublishAsync(client, mqttOptions, m, cancellationToken);
            }

            if (_options.DropDirectory is { } dir)
            {
                var now = TimeOf(first) + elapsed;
                while (_start!.Value + (_options.EnergyInterval * (_energyFiles + 1)) <= now)
                {
                    await WriteAsync(dir, NextEnergyFile(), cancellationToken);
                }
            }

            if (_sequence >= stopAt)
            {
                break;
            }

            await timer.WaitForNextTickAsync(cancellationToken);
        }

        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), CancellationToken.None);
        _logger.SimulatorStopped(Counters.Published, Counters.EnergyFiles);
    }

    /// <summary>
    /// Writes an energy file into <paramref name="directory"/> under a temporary name, then renames it to its
    /// <c>.csv</c> name, so that a folder watcher never reads half a file. Returns the final path.
    /// </summary>
    public static async Task<string> WriteAsync(string directory, EnergyFile file, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        var temp = Path.Combine(directory, "." + file.FileName + ".tmp");
        await File.WriteAllBytesAsync(temp, file.Content, cancellationToken);
        var target = Path.Combine(directory, file.FileName);
        for (var n = 2; ; n++)
        {
            try
            {
                File.Move(temp, target, overwrite: false);
                return target;
            }
            catch (IOException) when (File.Exists(target) && n < 1000)
            {
                // A file of an earlier run at the same second: keep it, it may be imported already.
                target = Path.Combine(directory, $"{Path.GetFileNameWithoutExtension(file.FileName)}-{n}.csv");
            }
        }
    }

    private async Task ConnectAsync(IMqttClient client, MqttClientOptions mqttOptions, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await client.ConnectAsync(mqttOptions, cancellationToken);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A client cancelled mid-operation may throw its own exception: report the cancellation instead.
                cancellationToken.ThrowIfCancellationRequested();
                _logger.BrokerUnreachable(ex, _options.BrokerUrl, RetryDelay);
                await Task.Delay(RetryDelay, _time, cancellationToken);
            }
        }
    }

    private async Task PublishAsync(IMqttClient client, MqttClientOptions mqttOptions, SimulatedMessage m, CancellationToken cancellationToken)
    {
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(m.Topic)
            .WithPayload(m.Payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithContentType("application/json")
            .Build();
        while (true)
        {
            try
            {
                var result = await client.PublishAsync(message, cancellationToken);
                if (result.IsSuccess)
                {
                    Counters.CountPublished();
                    return;
                }

                throw new UsineException($"broker refused the message: {result.ReasonCode} {result.ReasonString}", isTransient: true);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A client cancelled mid-operation may throw its own exception: report the cancellation instead.
                cancellationToken.ThrowIfCancellationRequested();
                Counters.CountPublishFailure();
                _logger.PublishFailed(ex, m.Topic);
                await Task.Delay(RetryDelay, _time, cancellationToken);
                if (!client.IsConnected)
                {
                    await ConnectAsync(client, mqttOptions, cancellationToken);
                }
            }
        }
    }
}
