/**
 * What the unit tests' fake connections share: canned answers to requests, by method (a method
 * without one is refused), and the requests made, in order.
 */
export class Answering {
    requests: [string, any][] = [];
    constructor(private readonly answers: Record<string, (p: any) => unknown> = {}) {}
    async request(method: string, params: any): Promise<unknown> {
        this.requests.push([method, params]);
        const a = this.answers[method];
        if (!a) {
            throw new Error(`refused: ${method}`);
        }
        return a(params);
    }
}
