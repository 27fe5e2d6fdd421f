// `enoki run services:GreetingService services:Service2` resolves classes from here.
export { GreetingService, AppError } from './service1/service1.js';
export { Service2 } from './service2/service2.js';
export { GuestbookService } from './guestbook/guestbook.js';
export { InferenceService } from './inference/inference.js';
