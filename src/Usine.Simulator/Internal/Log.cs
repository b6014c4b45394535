using Microsoft.Extensions.Logging;

namespace Usine.Simulator.Internal;

/// <summary>Every log event of the simulator; ids 5000-5099 belong to it.</summary>
internal static partial class Log
{
    [LoggerMessage(5001, LogLevel.Information, "Simulator publishing {Rate} messages/s for plants {Plants} to {Broker}")]
    public static partial void SimulatorStarted(this ILogger logger, double rate, string plants, Uri broker);

    [LoggerMessage(5002, LogLevel.Warning, "Simulator cannot reach broker {Broker}; retrying in {Delay}")]
    public static partial void BrokerUnreachable(this ILogger logger, Exception exception, Uri broker, TimeSpan delay);

    [LoggerMessage(5003, LogLevel.Warning, "Simulator failed to publish on {Topic}; reconnecting and publishing it again")]
    public static partial void PublishFailed(this ILogger logger, Exception exception, string topic);

    [LoggerMessage(5004, LogLevel.Information, "Simulator stopped after {Published} messages and {Files} energy files")]
    public static partial void SimulatorStopped(this ILogger logger, long published, long files);

    [LoggerMessage(5005, LogLevel.Warning, "Simulator is {Behind} messages behind its rate of {Rate}/s; the broker or the platform is slower than the simulation")]
    public static partial void FallingBehind(this ILogger logger, long behind, double rate);
}
