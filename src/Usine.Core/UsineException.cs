namespace Usine;

/// <summary>The root of every error Usine raises on its own behalf.</summary>
/// <remarks>
/// Caller mistakes use the standard .NET exceptions instead. <see cref="IsTransient"/> tells the engine
/// whether retrying the same operation later can succeed (a lost connection) or not (a corrupt file).
/// </remarks>
public class UsineException : Exception
{
    public UsineException(string message, bool isTransient = false, Exception? inner = null)
        : base(message, inner) => IsTransient = isTransient;

    public UsineException() : this("Usine error") { }

    public UsineException(string message) : this(message, false) { }

    public UsineException(string message, Exception inner) : this(message, false, inner) { }

    public bool IsTransient { get; }
}

/// <summary>A definition file (models, sources) is invalid; names the file, the line and what is wrong.</summary>
public sealed class DefinitionException : UsineException
{
    public DefinitionException(string file, long line, string problem)
        : base($"{file}:{line}: {problem}")
    {
        File = file;
        Line = line;
        Problem = problem;
    }

    public DefinitionException() : this("<unknown>", 0, "invalid definition") { }

    public DefinitionException(string message) : this("<unknown>", 0, message) { }

    public DefinitionException(string message, Exception inner) : base(message, inner)
    {
        File = "<unknown>";
        Problem = message;
    }

    public string File { get; } = "";
    public long Line { get; }
    public string Problem { get; } = "";
}
