namespace Usine.Cli.Internal;

/// <summary>A failure the tool reports as one line on standard error, with the exit code it deserves.</summary>
internal class CliException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    public static CliException Usage(string message) => new(message, ExitCodes.Usage);

    public static CliException Failure(string message) => new(message, ExitCodes.Failure);
}

/// <summary>The server answered with an error status; <see cref="Exception.Message"/> is the server's own line.</summary>
internal sealed class UsineApiException(int statusCode, string message)
    : CliException(message, statusCode is >= 400 and < 500 and not 401 and not 403 ? ExitCodes.Usage : ExitCodes.Failure)
{
    // 4xx means the request named something that does not exist or is not allowed (unknown source,
    // refused SQL): the user has to change the command, so it is bad usage. 401/403 and 5xx are failures.
    public int StatusCode { get; } = statusCode;
}

/// <summary>Exit codes of the tool (DESIGN: 0 success, 1 failure, 2 bad usage).</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}
